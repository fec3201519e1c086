"""Ensemble teachers (DESIGN section 1): several policies roll out the same task; keep the best trajectory per
task, or every accepted one, and remember which teacher produced each kept sample."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from harness.distill.filters import Candidate, Decision, DropReason

SelectMode = Literal["best", "all"]


def select_teachers(
    candidates: Sequence[Candidate], decisions: Sequence[Decision], mode: SelectMode = "all"
) -> list[Decision]:
    """Apply the ensemble rule to the filters' decisions (same order as ``candidates``).

    ``best``: per task, only the kept trajectory with the highest score survives (ties: fewer messages, then
    teacher name, then episode id, so the choice is deterministic); the others are dropped as
    ``not_best_of_teachers`` naming the winner. ``all``: every kept trajectory stays.
    """
    if mode not in ("best", "all"):
        raise ValueError(f"mode must be 'best' or 'all', got {mode!r}")
    out = list(decisions)
    if mode == "all":
        return out
    by_task: dict[str, list[int]] = {}
    for position, decision in enumerate(decisions):
        if decision.kept:
            by_task.setdefault(decision.task_id, []).append(position)
    for positions in by_task.values():

        def rank(p: int) -> tuple[float, int, str, str]:
            c = candidates[p]
            return (
                -(c.score if c.score is not None else float("-inf")),
                len(c.internalized.sample.messages),
                c.trace.teacher,
                c.trace.episode_id,
            )

        winner, *others = sorted(positions, key=rank)
        best = candidates[winner]
        for p in others:
            out[p] = out[p].model_copy(
                update={
                    "kept": False,
                    "reason": DropReason.not_best_of_teachers,
                    "detail": f"task {best.trace.task_id}: {best.trace.teacher} scored "
                    f"{best.score if best.score is not None else 'n/a'} (episode {best.trace.episode_id})",
                }
            )
    return out
