"""Build the report file from run folders (and optionally a distill output).

Sections: run overview (per run, side by side for several runs, with a leaderboard), the episode list, one
episode view per episode (loaded lazily), and the distill view inside an episode when a distill output is
given. See :mod:`harness.view.page` for how the file stays self-contained and inert.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.view.episode import episode_detail
from harness.view.load import DistillData, RunData, load_distill, load_run
from harness.view.overview import episode_row, leaderboard, run_overview
from harness.view.page import build_page, packed


@dataclass(frozen=True)
class ReportStats:
    """What was written: the file, its size, the episodes and runs in it, and how long it took."""

    path: Path
    bytes: int
    episodes: int
    runs: int
    build_s: float

    @property
    def megabytes(self) -> float:
        return self.bytes / 1_000_000


PARALLEL_FROM = 200


def _packed_detail(job: tuple) -> str:
    trace, result, task, sample, decision = job
    return packed(episode_detail(trace, result, task=task, sample=sample, decision=decision))


def _names(paths: Sequence[Path]) -> list[str]:
    names = [Path(p).resolve().name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [f"{i + 1}:{name}" for i, name in enumerate(names)]


def build_report(
    runs: Sequence[Path],
    out: Path,
    *,
    distill: Path | None = None,
    decisions: Path | None = None,
    title: str | None = None,
    on_episode: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> ReportStats:
    """Write the report for ``runs`` to ``out``; ``on_episode(done, total)`` reports progress.

    ``workers`` processes build the episode details of large runs (default: up to 4, one per CPU).
    """
    started = time.perf_counter()
    data: list[RunData] = [load_run(Path(p), name) for p, name in zip(runs, _names(runs), strict=True)]
    distilled: DistillData | None = load_distill(distill, decisions) if distill else None
    rows: list[dict] = []
    jobs = []
    for index, run in enumerate(data):
        for result in run.results:
            key = str(result.get("episode_key") or "")
            trace = run.traces.get(key)
            row = episode_row(index, run, result, trace)
            sample = distilled.samples.get(key) if distilled else None
            decision = distilled.decisions.get(key) if distilled else None
            row["distill"] = None if decision is None else ("kept" if decision.get("kept") else "dropped")
            rows.append(row)
            jobs.append((trace, result, run.tasks.get(str(result.get("task_id"))), sample, decision))
    details = []
    workers = workers or min(4, os.cpu_count() or 1)
    if workers > 1 and len(jobs) >= PARALLEL_FROM:
        # rendering reports (markdown + grounding checks) dominates; episodes are independent
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for blob in pool.map(_packed_detail, jobs, chunksize=8):
                details.append(blob)
                if on_episode:
                    on_episode(len(details), len(jobs))
    else:
        for job in jobs:
            details.append(_packed_detail(job))
            if on_episode:
                on_episode(len(details), len(jobs))
    overview = ""
    if len(data) > 1:
        overview += leaderboard(data, rows)
    for index, run in enumerate(data):
        overview += run_overview(index, run, [r for r in rows if r["run"] == index])
    names = [run.name for run in data]
    page = build_page(
        title=title or ("prgym run: " + ", ".join(names)),
        subtitle=f"{len(rows)} episodes from {len(data)} run folder(s)"
        + (f"; distill output {distilled.path.name}" if distilled else ""),
        overview_html=overview,
        index={"runs": names, "rows": rows},
        details=details,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return ReportStats(
        path=out,
        bytes=out.stat().st_size,
        episodes=len(rows),
        runs=len(data),
        build_s=time.perf_counter() - started,
    )
