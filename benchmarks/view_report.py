"""``prgym view`` at scale: build time and file size for 100 and 1,000 scripted episodes, and the browser's load
time (file opened in headless Chromium until the first episode list is rendered).

The episodes are real: the scripted baseline under the rule-based supervisor on user-agent tasks over the demo
catalog (half of the tasks trigger a report critique and a revision, see :mod:`harness.view.demo_runs`);
1,000 episodes are 100 tasks x 10 trials. Baselines measured in the same run, on the same folder: the size of
the raw run files (``traces.jsonl`` + ``results.jsonl``, what a user would otherwise open), and the time to
just read and validate the traces with the typed reader (the floor for any tool that shows them).

    PRGYM_DATA_DIR=../shared/data python benchmarks/view_report.py            # 100 and 1,000 episodes
    PRGYM_DATA_DIR=../shared/data python benchmarks/view_report.py --quick    # 20 and 100 episodes, < 1 min

Needs Chromium and Playwright for the load time (``apt-get install chromium``, ``pip install 'prgym[view]'``);
without them the load times are ``null``. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import harness.cli  # noqa: F401  (first: importing harness.demo alone is circular today)
from catalog_loader.datahome import resolve_data_dir
from catalog_loader.fetch import ensure_datasets
from harness.demo import DEMO_PRESETS, demo_snapshot
from harness.view import build_report
from harness.view.browser import browser, unavailable
from harness.view.demo_runs import demo_tasks, scripted_run
from sandbox.recorder.reader import read_traces

console = Console()


def load_time(path: Path, repeats: int = 3) -> float | None:
    """Median seconds from navigation start to the first episode row rendered, in headless Chromium."""
    if unavailable():
        return None
    times = []
    with browser() as chromium:
        for _ in range(repeats):
            page = chromium.new_page(viewport={"width": 1280, "height": 900})
            started = time.perf_counter()
            page.goto(path.resolve().as_uri(), wait_until="commit")
            page.wait_for_selector("body[data-ready='1'] tr.row", timeout=120_000)
            times.append(time.perf_counter() - started)
            page.close()
    return sorted(times)[len(times) // 2]


def measure(snapshot: Path, root: Path, tasks: int, trials: int) -> dict[str, float | int | None]:
    run = root / f"run-{tasks * trials}"
    started = time.perf_counter()
    scripted_run(snapshot, demo_tasks(snapshot, tasks, seed=7), run, trials=trials, concurrency=4)
    rollout_s = time.perf_counter() - started
    started = time.perf_counter()
    traces = read_traces(run / "traces.jsonl")
    read_s = time.perf_counter() - started
    stats = build_report([run], root / f"report-{tasks * trials}.html")
    raw = (run / "traces.jsonl").stat().st_size + (run / "results.jsonl").stat().st_size
    return {
        "episodes": stats.episodes,
        "traces": len(traces),
        "rollout_s": rollout_s,
        "build_s": stats.build_s,
        "file_mb": stats.megabytes,
        "raw_mb": raw / 1e6,
        "read_traces_s": read_s,
        "load_s": load_time(stats.path),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 and 100 episodes (under a minute)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Demo catalog cache (default: a temp folder)"
    )
    args = parser.parse_args()
    sizes = [(20, 1), (100, 1)] if args.quick else [(100, 1), (100, 10)]
    home = ensure_datasets(list(DEMO_PRESETS), resolve_data_dir(None), console=console)
    with tempfile.TemporaryDirectory(prefix="prgym-view-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        snapshot = demo_snapshot(home, workdir, console)
        figures = {tasks * trials: measure(snapshot, Path(tmp), tasks, trials) for tasks, trials in sizes}
    table = Table(title="prgym view (machine shared with other jobs: 2 cores, several concurrent processes)")
    for column in (
        "episodes",
        "rollout s",
        "report build s",
        "report MB",
        "raw run files MB",
        "read traces s",
        "browser load s",
    ):
        table.add_column(column, justify="right")
    for n, f in figures.items():
        load = "-" if f["load_s"] is None else f"{f['load_s']:.2f}"
        table.add_row(
            str(n), f"{f['rollout_s']:.1f}", f"{f['build_s']:.2f}", f"{f['file_mb']:.2f}", f"{f['raw_mb']:.2f}",
            f"{f['read_traces_s']:.2f}", load,
        )  # fmt: skip
    console.print(table)
    out: dict[str, object] = {"episodes": sorted(figures), "quick": args.quick, "cpus": os.cpu_count()}
    for n, f in figures.items():
        for key in ("build_s", "file_mb", "load_s", "raw_mb", "read_traces_s"):
            value = f[key]
            out[f"{key}_{n}"] = None if value is None else round(float(value), 3)
    for key in ("build_s_1000", "file_mb_1000", "load_s_1000"):
        out.setdefault(key, None)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
