"""Collaboration figures of a run (live or replayed), from its records only, and their HTML line.

The same analysis.metrics functions as the prompt study and the evaluation: each pass
record's pieces are cut into reasoning steps, then scored. When the problem has a known answer
(a gallery recording), the line also says whether the final answer was right."""

import html

from analysis import metrics
from analysis.answers import is_correct
from hogwild_core.prompts import problem_parts

from .records import RunLog


def report_of(log: RunLog, expected: str | None = None) -> metrics.CollaborationReport | None:
    """The run's collaboration report; None for a single worker (nothing to divide)."""
    W = log.num_workers
    if W < 2:
        return None
    pieces = metrics.pieces_from_records([record.pieces for record in log.passes], W)
    settings = log.meta.get("settings")
    problem = settings.get("problem") if isinstance(settings, dict) else None
    problem = problem if isinstance(problem, str) else ""      # a replayed trace may hold anything
    correct = None
    if isinstance(expected, str) and isinstance(log.answer, str):
        correct = is_correct(log.answer, expected)
    return metrics.report_of_pieces(pieces, W, problem_parts(problem) or None, correct)


def collaboration_html(report: metrics.CollaborationReport | None) -> str:
    if report is None or report.num_steps == 0:
        return ""
    parts = [f"<b>{report.redundancy:.0%}</b> of {report.num_steps} steps repeat another worker's",
             f"{report.impersonations} written under another's name",
             f"{report.copied_prompts} copy an inserted prompt"]
    if report.parts_started is not None:
        parts.append(f"{report.parts_started} parts started")
    if report.correct is not None:
        parts.append("answer <b>right</b>" if report.correct else "answer <b>wrong</b>")
    title = ("Collaboration figures (analysis/metrics.py): a repeated step shares most of its word "
             "3-grams with an earlier step of another worker")
    return f'<div class="hw-collab" title="{html.escape(title)}">Collaboration: ' + " · ".join(parts) + "</div>"
