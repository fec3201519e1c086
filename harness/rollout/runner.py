"""Run many episodes concurrently, durably and resumably.

``run_rollouts(jobs, episode_fn, out_dir, ...)``:

- **Concurrency**: at most ``concurrency`` episodes at once overall and at most ``per_endpoint_limits[e]`` on
  endpoint ``e = endpoint_of(job)``. A free worker takes the next job whose endpoint has room (round-robin
  over endpoints), so a saturated endpoint does not idle workers that could serve another one.
- **Isolation**: an exception in an episode, or running past ``timeout_s``, ends that episode as a *failed*
  record with the reason and traceback; the others go on.
- **Durability and resume**: each record is appended and fsync-ed as the episode ends
  (:class:`~harness.rollout.store.ResultStore`); a rerun skips every key already recorded, so no episode is
  ever written twice, and a torn last line from a crash is cut off and rerun.
- **Progress**: a rich bar with ETA, live mean reward and failure count; a summary at the end (also saved as
  ``summary.json``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import traceback
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.defaults import DEFAULT_CONCURRENCY
from harness.llm.client import LLMError
from harness.rollout.episode import EpisodeProgress, track_progress
from harness.rollout.jobs import RolloutJob, check_unique
from harness.rollout.records import EpisodeOutcome, EpisodeRecord
from harness.rollout.store import ResultStore
from harness.rollout.summary import RolloutSummary
from sandbox.progress import ProgressBar

log = logging.getLogger(__name__)

EpisodeFn = Callable[[RolloutJob], Awaitable[EpisodeOutcome]]
EndpointOf = Callable[[RolloutJob], "str | None"]

#: How long a timed-out episode may take to unwind after cancellation before it is abandoned.
CANCEL_GRACE_S = 5.0


class _Scheduler:
    """Hands out jobs so that the per-endpoint limits hold; workers wait on a condition when every endpoint
    with pending work is full."""

    def __init__(
        self, jobs: Sequence[RolloutJob], endpoint_of: EndpointOf, limits: Mapping[str, int]
    ) -> None:
        self._endpoint_of = endpoint_of
        self._limits = dict(limits)
        self._queues: dict[str | None, deque[RolloutJob]] = {}
        for job in jobs:
            self._queues.setdefault(endpoint_of(job), deque()).append(job)
        self._order: deque[str | None] = deque(self._queues)
        self._active: Counter[str | None] = Counter()
        self._cond = asyncio.Condition()

    def _pick(self) -> RolloutJob | None:
        for _ in range(len(self._order)):
            endpoint = self._order[0]
            self._order.rotate(-1)
            queue = self._queues[endpoint]
            limit = self._limits.get(endpoint) if endpoint is not None else None
            if queue and (limit is None or self._active[endpoint] < limit):
                self._active[endpoint] += 1
                return queue.popleft()
        return None

    async def next_job(self) -> RolloutJob | None:
        async with self._cond:
            while True:
                job = self._pick()
                if job is not None:
                    return job
                if not any(self._queues.values()):
                    return None
                await self._cond.wait()

    async def release(self, job: RolloutJob) -> None:
        async with self._cond:
            self._active[self._endpoint_of(job)] -= 1
            self._cond.notify_all()


def failure_reason(exc: BaseException) -> str:
    """A short, groupable failure kind: ``llm_<reason>`` for LLM errors, else the exception class name."""
    if isinstance(exc, LLMError):
        return f"llm_{exc.reason}"
    return type(exc).__name__


class _Progress:
    """The live bar: done/total, ETA, mean reward of completed episodes and failure count."""

    def __init__(self, total: int, done: int, enabled: bool, console: Console | None) -> None:
        self.rewards_sum = 0.0
        self.rewards_n = 0
        self.failed = 0
        self._progress: Progress | None = None
        if enabled:
            self._progress = ProgressBar(
                TextColumn("[bold]rollouts"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[stats]}"),
                console=console,
                refresh_per_second=2,
            )
            self._task = self._progress.add_task("rollouts", total=total, completed=done, stats="")

    def __enter__(self) -> _Progress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add_existing(self, record: EpisodeRecord) -> None:
        if record.status == "completed" and record.reward is not None:
            self.rewards_sum += record.reward
            self.rewards_n += 1
        elif record.status == "failed":
            self.failed += 1

    def advance(self, record: EpisodeRecord) -> None:
        self.add_existing(record)
        if self._progress is not None:
            mean = f"{self.rewards_sum / self.rewards_n:.3f}" if self.rewards_n else "-"
            self._progress.update(self._task, advance=1, stats=f"mean reward {mean}  failed {self.failed}")


async def run_rollouts(
    jobs: Sequence[RolloutJob],
    episode_fn: EpisodeFn,
    out_dir: Path | str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    endpoint_of: EndpointOf | None = None,
    per_endpoint_limits: Mapping[str, int] | None = None,
    timeout_s: float | None = None,
    base_seed: int = 0,
    retry_failed: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> RolloutSummary:
    """Run every job not yet recorded in ``out_dir/results.jsonl`` and return the summary (see module doc).

    ``episode_fn(job)`` runs one episode and returns an :class:`EpisodeOutcome`; the job's seed is
    ``job.seed(base_seed)``. ``retry_failed`` drops failed records first so those episodes run again.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency: expected >= 1, got {concurrency}")
    if timeout_s is not None and timeout_s <= 0:
        raise ValueError(f"timeout_s: expected > 0, got {timeout_s}")
    for endpoint, limit in (per_endpoint_limits or {}).items():
        if limit < 1:
            raise ValueError(f"per_endpoint_limits[{endpoint!r}]: expected >= 1, got {limit}")
    jobs = list(jobs)
    check_unique(jobs)
    wanted = {job.episode_key for job in jobs}
    started = time.monotonic()
    with ResultStore(out_dir) as store:
        rerun = 0
        if retry_failed:
            rerun = store.drop({k for k, r in store.records.items() if r.status == "failed" and k in wanted})
        finished = {k for k in store.records if k in wanted}
        pending = [job for job in jobs if job.episode_key not in finished]
        scheduler = _Scheduler(pending, endpoint_of or (lambda job: None), per_endpoint_limits or {})
        ran = 0
        log.info(
            "%s: %d episode(s), %d already recorded, %d to run (%d failed dropped to rerun), concurrency %d",
            out_dir, len(jobs), len(finished), len(pending), rerun, concurrency,
        )  # fmt: skip
        with _Progress(len(jobs), len(finished), progress, console) as bar:
            for key in finished:
                bar.add_existing(store.records[key])

            async def worker() -> None:
                nonlocal ran
                while (job := await scheduler.next_job()) is not None:
                    try:
                        record = await _run_one(job, episode_fn, timeout_s, base_seed)
                        await store.append_async(record)
                        ran += 1
                        log.debug(
                            "episode %s: %s%s in %.1f s, %d steps, reward %s",
                            record.episode_key, record.status, f" ({record.reason})" if record.reason else "",
                            record.duration_s, record.steps, record.reward,
                        )  # fmt: skip
                        bar.advance(record)
                    finally:
                        await scheduler.release(job)

            workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(pending)))]
            try:
                await asyncio.gather(*workers)
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        summary = RolloutSummary.build(
            (r for k, r in store.records.items() if k in wanted),
            jobs=len(jobs),
            skipped=len(finished),
            rerun_failed=rerun,
            ran=ran,
            wall_s=time.monotonic() - started,
        )
        _write_json_atomic(Path(out_dir) / "summary.json", json.loads(summary.model_dump_json()))
        log.info("%s: ran %d episode(s) in %.1f s", out_dir, ran, summary.wall_s)
    return summary


async def _run_one(
    job: RolloutJob, episode_fn: EpisodeFn, timeout_s: float | None, base_seed: int
) -> EpisodeRecord:
    """Run one episode; whatever happens in it becomes a record (only cancellation of the runner escapes)."""
    seed = job.seed(base_seed)
    started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    t0 = time.monotonic()

    progress = EpisodeProgress()

    async def episode() -> EpisodeOutcome:
        track_progress(progress)  # the task's own context: what the episode spends stays readable here
        return await episode_fn(job)  # calling inside the task: even a synchronous raise is isolated

    task = asyncio.ensure_future(episode())
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        stack = (
            await_chain(task.get_coro()) or None
        )  # where the episode was stuck, before cancelling unwinds it
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
        return EpisodeRecord.failed(
            job,
            seed,
            reason="timeout",
            error=f"episode did not finish within {timeout_s} s",
            traceback=stack,
            started_at=started_at,
            duration_s=time.monotonic() - t0,
            **_spent(progress),
        )
    exc = task.exception() if not task.cancelled() else asyncio.CancelledError("episode cancelled itself")
    if exc is not None:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise exc
        return EpisodeRecord.failed(
            job,
            seed,
            reason=failure_reason(exc),
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            started_at=started_at,
            duration_s=time.monotonic() - t0,
            **_spent(progress),
        )
    duration = time.monotonic() - t0
    outcome = task.result()
    try:
        if not isinstance(outcome, EpisodeOutcome):
            outcome = EpisodeOutcome.model_validate(outcome)
        record = EpisodeRecord.completed(job, seed, outcome, started_at, duration)
        record.model_dump_json()  # non-JSON values in ``info`` fail here, inside the isolation boundary
        return record
    except (ValidationError, ValueError, TypeError) as bad:
        return EpisodeRecord.failed(
            job,
            seed,
            reason="bad_outcome",
            error=f"episode returned an unusable outcome: {_describe(bad)}",
            traceback="".join(traceback.format_exception(type(bad), bad, bad.__traceback__)),
            started_at=started_at,
            duration_s=duration,
        )


def _spent(progress: EpisodeProgress) -> dict[str, object]:
    """A failed episode's steps and tokens so far: the agent's as ``usage``, every role's in ``info``."""
    by_role = progress.usage_by_role()
    info = {"usage_by_role": by_role} if len(by_role) > 1 else {}
    return {"steps": progress.steps, "usage": by_role.get("agent", {}), "info": info}


def await_chain(coro: object) -> str:
    """The stack of a suspended coroutine, outermost first, following each ``await`` down to the innermost
    frame (``Task.print_stack`` shows only the outermost one)."""
    lines = ["Episode stack when it timed out (most recent await last):\n"]
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        lines.extend(traceback.format_stack(frame, limit=1))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return "".join(lines) if len(lines) > 1 else ""


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'outcome'}: {e['msg']}" for e in exc.errors())
    return f"{type(exc).__name__}: {exc}"


def _write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run_rollouts_sync(*args: object, **kwargs: object) -> RolloutSummary:
    """:func:`run_rollouts` from synchronous code (runs its own event loop)."""
    return asyncio.run(run_rollouts(*args, **kwargs))  # type: ignore[arg-type]
