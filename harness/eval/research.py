"""Scores of research (report) episodes for ``prgym eval``: the offline rubric score and the RACE judge pass.

The offline rubric score needs no model: a criterion counts as met when the report mentions one of its
keywords (the rule the rule-based supervisor's ``rubric_coverage`` check uses); the score is the weighted share
of met criteria, ``sum_d w_d * (sum of met criterion weights in d / sum of criterion weights in d)``, in [0, 1].

With ``--judge openai:MODEL`` each report is judged against the reference run's report for the same task
(:class:`harness.judge.RaceJudge`, the task's rubric as criteria); the relative score is in [0, 1], 0.5 when the
two reports are judged equal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from harness.defaults import DEFAULT_CONCURRENCY
from harness.judge.judge import JudgeError, RaceJudge
from sandbox.tasks.models import ResearchTask, Rubric, mentions


def criterion_met(report: str, keywords: Sequence[str]) -> bool:
    """A keyword is mentioned as a whole word, or (for symbols like ``#`` or ``|``) appears verbatim."""
    return any(mentions(report, k) or (not k[:1].isalnum() and k in report) for k in keywords)


def rubric_score(report: str | None, rubric: Rubric) -> float:
    """Weighted share of rubric criteria the report meets by keyword (see the module docstring)."""
    if not report:
        return 0.0
    total = 0.0
    for dimension in rubric.dimensions:
        weights = sum(c.weight for c in dimension.criteria)
        met = sum(c.weight for c in dimension.criteria if criterion_met(report, c.keywords))
        total += dimension.weight * (met / weights if weights else 0.0)
    return float(total)


def pick_reference_reports(episodes: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Per task, the reference report from an ``eval.json``'s episodes: accepted first, then highest reward,
    then the lowest trial (so the pick is stable)."""
    best: dict[str, tuple[tuple[bool, float, int], str]] = {}
    for episode in episodes:
        report = episode.get("report")
        if not report:
            continue
        rank = (
            bool(episode.get("accepted")),
            float(episode.get("reward") or 0.0),
            -int(episode.get("trial", 0)),
        )
        task_id = str(episode["task_id"])
        if task_id not in best or rank > best[task_id][0]:
            best[task_id] = (rank, str(report))
    return {task_id: report for task_id, (_, report) in best.items()}


async def judge_reports(
    judge: RaceJudge,
    pairs: Sequence[tuple[ResearchTask, str, str]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_pair: Callable[[], None] | None = None,
) -> list[tuple[float | None, str | None]]:
    """``(relative score, failure)`` per ``(task, report, reference report)``, in order; a judge failure is kept
    with its reason instead of ending the run."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(task: ResearchTask, report: str, reference: str) -> tuple[float | None, str | None]:
        data = task.model_dump(mode="json")
        data["requirements"] = task.requirements()
        try:
            async with gate:
                score, _, _, _ = await judge.judge(data, report, reference)
            result: tuple[float | None, str | None] = (score.relative, None)
        except JudgeError as exc:
            result = (None, f"{exc.reason}: {exc.detail}")
        if on_pair is not None:
            on_pair()
        return result

    return list(await asyncio.gather(*(one(t, r, ref) for t, r, ref in pairs)))
