"""Judge recorded runs against reference runs: pair each target episode with the reference episode of the same
task, judge the pairs concurrently, and keep every failure with its reason."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from harness.defaults import DEFAULT_CONCURRENCY
from harness.judge.judge import JudgeError, JudgeResult, RaceJudge
from sandbox.recorder.schema import EpisodeTrace


def pick_references(references: Sequence[EpisodeTrace]) -> dict[str, EpisodeTrace]:
    """The reference per task: a trace with a report, accepted first, then highest reward, then episode id."""
    best: dict[str, EpisodeTrace] = {}
    for trace in references:
        if not trace.report:
            continue
        current = best.get(trace.task_id)
        rank = (trace.accepted, trace.reward or 0.0, trace.episode_id)
        if current is None or rank > (current.accepted, current.reward or 0.0, current.episode_id):
            best[trace.task_id] = trace
    return best


async def judge_runs(
    judge: RaceJudge,
    targets: Sequence[EpisodeTrace],
    references: Sequence[EpisodeTrace],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[JudgeResult], None] | None = None,
) -> list[JudgeResult]:
    """One :class:`JudgeResult` per target trace, in order."""
    refs = pick_references(references)
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(trace: EpisodeTrace) -> JudgeResult:
        base = {"task_id": trace.task_id, "target_episode": trace.episode_id, "teacher": trace.teacher}
        reference = refs.get(trace.task_id)
        if not trace.report:
            result = JudgeResult(
                **base, status="failed", reason="no_report", error="the target submitted no report"
            )
        elif reference is None:
            result = JudgeResult(
                **base,
                status="failed",
                reason="no_reference",
                error=f"no reference report for {trace.task_id}",
            )
        else:
            task = dict(trace.task)
            task.setdefault("requirements", [])
            try:
                async with limit:
                    score, source, calls, hits = await judge.judge(task, trace.report, reference.report or "")
                result = JudgeResult(
                    **base,
                    reference_episode=reference.episode_id,
                    status="ok",
                    criteria_source=source,  # type: ignore[arg-type]
                    score=score,
                    attempts=calls,
                    cache_hits=hits,
                )
            except JudgeError as exc:
                result = JudgeResult(
                    **base,
                    reference_episode=reference.episode_id,
                    status="failed",
                    reason=exc.reason,
                    error=exc.detail,
                    attempts=exc.attempts,
                )
        if progress is not None:
            progress(result)
        return result

    return list(await asyncio.gather(*(one(t) for t in targets)))
