"""Accuracy against budget, offline: `python -m evaluation --tasks multipart-2 --limit 10`.

Every method (one worker, independent workers, Hogwild! in each layout) runs once per problem
and is cut at each budget by a forced, greedy, short final answer on a fork of the run
(evaluation.probing, as evaluation.records.EvalRun). Results go to a resumable JSONL (evaluation.store), a tidy table
(evaluation.table) and a Figure-3-style plot (evaluation.figure). The core package knows
nothing of this one."""
