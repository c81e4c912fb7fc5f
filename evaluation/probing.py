"""One run of one method on one problem, probed at every budget.

The run is cut after B lock-step passes for each budget B, in the same way for every method: the
engine is forked, the fork is told to `finish(answerers)` (the forced-answer prompt, greedy and
short), and run pass by pass until done; its answers are read and the main run goes on untouched. One
run serves all budgets. If the reasoning ends before a budget (finish="boxed", the default and the
paper's rule: a worker wrote a final \\boxed{} with every question's answer, which ends a team's
reasoning; finish="eos": every worker ended its text), the run is probed once at that point and the
remaining budgets reuse that answer. If the context fills up first, the engine
moves to Alice's final answer by itself; that answer serves the remaining budgets.

The run comes back as a records.EvalRun. Only the engine's public API is used: start, run_pass, num_passes, reasoning_over, fork, finish, done,
answers, transcript, codec (to decode a transcript token by token), and the PassEvent's tokens / pieces / phase.
"""

import time
from dataclasses import dataclass, replace

from hogwild_core import EngineConfig, HogwildEngine
from analysis.answers import is_correct, part_correct
from hogwild_core.prompts import ANSWER_PROMPTS
from hogwild_core.text import Detokenizer

from . import scoring
from .errors import EvaluationError
from .methods import Method
from .records import AFTER_RUN, EvalRun, Probe, TranscriptPiece
from .tasks import Task


@dataclass(frozen=True)
class RunSettings:
    budgets: tuple[int, ...]
    temperature: float = 0.0
    seed: int = 0
    max_answer_tokens: int = 48
    team_sizes: tuple[int, ...] = ()     # W of the team methods: the single run is also probed at W x budget
    engine_overrides: tuple[tuple[str, object], ...] = ()   # other EngineConfig fields, for ablations
    finish: str = "boxed"                # how reasoning ends before the budget (EngineConfig.finish)
    # How the forced answers are asked for (prompts.ANSWER_PROMPTS): every cut of the one run is
    # probed with each, on its own fork, so the prompts are compared on the very same transcripts.
    answer_prompts: tuple[str, ...] = ("plain",)

    def __post_init__(self):
        if not self.budgets or any(b < 1 for b in self.budgets) or sorted(set(self.budgets)) != list(self.budgets):
            raise ValueError("budgets must be distinct positive pass counts in increasing order")
        if not self.answer_prompts or len(set(self.answer_prompts)) != len(self.answer_prompts) \
                or any(p not in ANSWER_PROMPTS for p in self.answer_prompts):
            raise ValueError(f"answer_prompts must be distinct names among {', '.join(ANSWER_PROMPTS)}")



class PassTape:
    """Which pass wrote each token of each worker's transcript, from the pass events."""

    def __init__(self, num_workers: int):
        self.passes: list[list[int]] = [[] for _ in range(num_workers)]

    def record(self, event, when: int) -> None:
        """The tokens each worker gained after this pass's forward: the sampled token and what was
        inserted because of it (text inserted before the pass, such as the opener, came earlier)."""
        for w, pieces in enumerate(event.pieces):
            first = next((i for i, piece in enumerate(pieces) if not piece.inserted), len(pieces))
            self.passes[w] += [when] * sum(len(piece.token_ids) for piece in pieces[first:])


def transcript_pieces(engine: HogwildEngine, tape: PassTape) -> list[list[TranscriptPiece]]:
    """Each worker's transcript as (text, inserted, pass) pieces; tokens written before the first
    pass (the opener) count as pass 0."""
    pieces_by_worker = []
    for w in range(engine.config.num_workers):
        transcript = engine.transcript(w)
        ids = list(transcript.tokens)
        inserted = [False] * len(ids)
        for start, end in transcript.inserted:
            inserted[start:end] = [True] * (end - start)
        # The opener (inserted before the first pass) is pass 0; anything after the recorded
        # passes (an answer the engine wrote by itself) gets a pass no budget reaches.
        spans = transcript.inserted
        head = spans[0][1] if spans and spans[0][0] == 0 else 0
        recorded = tape.passes[w][:len(ids) - head]
        passes = [0] * head + recorded + [AFTER_RUN] * (len(ids) - head - len(recorded))
        pieces: list[TranscriptPiece] = []
        detokenizer = Detokenizer(engine.codec)     # a character split across tokens goes with its last token
        for i, token in enumerate(ids):
            text = detokenizer.add([token])
            if pieces and pieces[-1][1] == inserted[i] and pieces[-1][2] == passes[i]:
                pieces[-1] = (pieces[-1][0] + text, inserted[i], passes[i])
            else:
                pieces.append((text, inserted[i], passes[i]))
        pieces_by_worker.append(pieces)
    return pieces_by_worker


def probe(engine: HogwildEngine, answerers: list[int], answer_prompt: str | None = None
          ) -> tuple[list[str | None], float]:
    """The forced answers if the run were cut now (on a fork: the run itself is not changed),
    asked for with `answer_prompt` (default: the engine's)."""
    began = time.perf_counter()
    branch = engine.fork()
    branch.finish(answerers, answer_prompt)
    while not branch.done:
        branch.run_pass()
    answers = branch.answers
    return [answers[w] for w in answerers], time.perf_counter() - began


def own_answer(engine: HogwildEngine, answerers: list[int]) -> tuple[list[str | None], float]:
    """When the context filled up the engine moved to its own final answer (Alice's): finish it.
    The other answerers have none (None), so an independent vote is then Alice's answer."""
    began = time.perf_counter()
    while not engine.done:
        engine.run_pass()
    answers = engine.answers
    return [answers[w] for w in answerers], time.perf_counter() - began


def _num_parts(task: Task) -> int:
    """How many answers the problem asks for (its questions or labelled parts)."""
    return len(task.answer) if isinstance(task.answer, list) else 1


def judge(method: Method, task: Task, answers: list[str | None]) -> dict:
    """The method's answer (an independent team's: the majority vote) and its verdicts, as Probe
    fields; for independent workers also each worker's own verdicts (any-correct, mean per-worker
    accuracy)."""
    num_parts = _num_parts(task)
    chosen = scoring.majority_vote(answers, num_parts) if method.name == "independent" else answers[0]
    verdicts = [is_correct(a, task.answer) for a in answers]
    result = {"answers": tuple(answers), "answer": chosen, "correct": is_correct(chosen, task.answer),
              "any_correct": any(verdicts), "worker_correct": tuple(verdicts)}
    if num_parts > 1:
        result["part_correct"] = tuple(part_correct(chosen, task.answer))
        result["worker_part_correct"] = tuple(tuple(part_correct(a, task.answer)) for a in answers)
    return result


def run_task(model, tokenizer, task: Task, method: Method, settings: RunSettings, prompt_cache=None, *,
             model_name: str = "default", machine: str | None = None) -> EvalRun:
    """The run of `run_task_prompts` answered with the first of settings.answer_prompts."""
    return run_task_prompts(model, tokenizer, task, method, settings, prompt_cache,
                            model_name=model_name, machine=machine)[0]


def run_task_prompts(model, tokenizer, task: Task, method: Method, settings: RunSettings, prompt_cache=None, *,
                     model_name: str = "default", machine: str | None = None) -> list[EvalRun]:
    """Run `method` on `task` once, probing at each budget with each of settings.answer_prompts:
    one EvalRun per answer prompt, with the same transcript. prompt_cache: a PromptCache of this
    model (runs with the same rules share their prompt prefix); model_name and machine are what
    the record says ran it. Where the context filled up, the engine's own answer (the first
    prompt's) serves every prompt."""
    budgets = method.budgets(settings.budgets, settings.team_sizes)
    config = EngineConfig(num_workers=method.num_workers, layout=method.layout, split=method.split,
                          max_new_tokens=max(budgets), temperature=settings.temperature,
                          seed=method.seed(settings.seed), max_answer_tokens=settings.max_answer_tokens,
                          finish=settings.finish, answer_parts=_num_parts(task),
                          answer_prompt=settings.answer_prompts[0], **dict(settings.engine_overrides))
    engine = HogwildEngine(model, tokenizer, config, prompt_cache=prompt_cache)
    W = method.num_workers
    prompts_asked = settings.answer_prompts
    began = time.perf_counter()
    engine.start(task.problem)
    run_seconds = time.perf_counter() - began
    tape = PassTape(W)
    ended_at = None                      # pass after which the reasoning was over (or the context was full)
    context_full_at = None
    cuts, cached, seconds_total = [], None, 0.0
    for budget in budgets:
        while ended_at is None and engine.num_passes < budget:
            began = time.perf_counter()
            event = engine.run_pass()
            run_seconds += time.perf_counter() - began
            if event.phase != "work":    # the context is full: the engine moved to Alice's answer
                context_full_at = ended_at = engine.num_passes
                break
            tape.record(event, engine.num_passes)
            if engine.reasoning_over:
                ended_at = engine.num_passes
        if cached is None or cached[0] != engine.num_passes:      # a new cut (not a run that ended)
            if context_full_at is not None:
                answers, seconds = own_answer(engine, method.answerers)
                by_prompt = {name: (answers, seconds) for name in prompts_asked}
            else:
                by_prompt = {name: probe(engine, method.answerers, name) for name in prompts_asked}
            cached = (engine.num_passes, by_prompt)
            seconds_total += sum(seconds for _, seconds in by_prompt.values())
        # seconds: what a run cut at this budget takes (its passes, then its forced answer)
        cuts.append((budget, cached[0], run_seconds, cached[1]))
    seconds_total += run_seconds
    pieces = transcript_pieces(engine, tape)
    runs = []
    for name in prompts_asked:
        probes = []
        for budget, passes, seconds, by_prompt in cuts:
            answers, probe_seconds = by_prompt[name]
            verdicts = judge(method, task, answers)
            probes.append(Probe(budget=budget, passes=passes, seconds=round(seconds + probe_seconds, 3), **verdicts,
                                tokens=scoring.sampled_tokens(pieces, last_pass=passes),
                                wasted_tokens=scoring.wasted_tokens(pieces, task.answer, passes),
                                metrics=scoring.collaboration(pieces, passes, task.parts, verdicts["correct"])))
        runs.append(EvalRun(task_set=task.task_set, problem_id=task.id, seed=settings.seed, model=model_name,
                            problem=task.problem, parts=tuple(task.parts or ()), reference=task.answer,
                            machine=machine, method=method.name, layout=method.layout, workers=W,
                            split=method.split, engine_seed=config.seed,
                            team_sizes=tuple(settings.team_sizes) if method.name == "single" else (),
                            seconds_total=round(seconds_total, 3), ended_at=ended_at,
                            context_full_at=context_full_at,
                            first_correct_pass=scoring.first_correct_pass(pieces, task.answer),
                            probes=tuple(probes), pieces=tuple(tuple(lane) for lane in pieces),
                            answer_prompt=name))
    return runs


def extend_single(run: EvalRun, budgets: tuple[int, ...], team_sizes: tuple[int, ...]) -> EvalRun:
    """A single run probed also for more team sizes (W x each of `budgets`), without running it
    again. That is exact only past the run's end: a run whose reasoning ended (or whose context
    filled up) at pass P is probed once there, and every budget at or beyond P gets that probe
    (`run_task_prompts`), whatever the cap; a larger cap changes nothing before P, since the
    engine reads it only to stop. A new budget before P, or beyond the budget of a run that never
    ended, needs the run made again: EvaluationError."""
    if run.method != "single":
        raise EvaluationError(f"{run.problem_id}: only a single worker's run is probed for team sizes, not {run.method}")
    sizes = tuple(sorted(set(run.team_sizes) | set(team_sizes)))
    wanted = Method("single", run.layout, 1).budgets(tuple(budgets), sizes)
    have = {p.budget: p for p in run.probes}
    missing = [b for b in wanted if b not in have]
    if not missing:
        return run
    end = run.ended_at if run.ended_at is not None else run.context_full_at
    if end is None or min(missing) < end:
        where = "it ran to its last budget" if end is None else f"it ended at pass {end}"
        raise EvaluationError(f"{run.problem_id}: no probe at {min(missing)} passes and {where}: run it again")
    last = next(p for p in run.probes if p.passes == end)          # the probe every later budget shares
    probes = sorted([*run.probes, *(replace(last, budget=b) for b in missing)], key=lambda p: p.budget)
    return replace(run, probes=tuple(probes), team_sizes=sizes)
