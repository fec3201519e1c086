"""``prgym demo``: the whole loop in one command, offline: data -> catalog -> tasks -> agent -> report -> metrics.

1. Makes sure the sample data is in the data home (``PRGYM_DATA_DIR`` or the user cache), fetching what is
   missing (``catalog_loader.fetch.ensure_datasets``).
2. Builds a catalog snapshot from a small preset subset (Best Buy, WebMall, Amazon.in, ShoppingBench: ~14k real
   products, a few seconds) into ``<workdir>/snapshots/demo`` (default: the user cache, ``prgym/demo``), or
   reuses it when its manifest lists the same sources.
3. Generates a few research tasks with the user agent (seeded).
4. Runs the scripted baseline (or ``--policy openai:MODEL``) with the rule-based supervisor through the rollout
   runner, recording every episode's multi-agent trace (``traces.jsonl``), and prints the first task's report
   as recorded in its trace, the metrics and where the traces are.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import platformdirs
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel

from catalog_loader.build import build_snapshot
from catalog_loader.datahome import DATA_DIR_ENV, FileState, dataset_status, resolve_data_dir
from catalog_loader.fetch import ensure_datasets
from catalog_loader.presets import preset
from harness.rollout.prgym import TRACES_NAME, metrics_table, run_tasks
from sandbox.env import shared_backend
from sandbox.errors import UserError
from sandbox.recorder import EpisodeTrace, read_traces
from sandbox.tasks.generator import generate_tasks
from sandbox.tasks.taskset import TaskSet

DEMO_PRESETS = ("bestbuy", "webmall", "amazon_in", "shoppingbench")


def default_workdir() -> Path:
    """Where the demo writes its catalog and runs: beside the data home's cache, never inside the data home
    (which may be a shared, read-only folder such as ``../shared/data``)."""
    return platformdirs.user_cache_path("prgym", appauthor=False) / "demo"


def demo_data_home(data_dir: Path | None, console: Console, progress: bool = True) -> Path:
    """The folder the demo reads its sample data from; a folder the user named is only ever read.

    With ``--data-dir`` or ``PRGYM_DATA_DIR`` (say ``../shared/data``, often shared or read-only) a missing or
    damaged dataset is an error saying how to fetch it there; only the default data home (the user cache) is
    downloaded into.
    """
    given = data_dir is not None or bool(os.environ.get(DATA_DIR_ENV, "").strip())
    root = resolve_data_dir(data_dir)
    if not given:
        return ensure_datasets(list(DEMO_PRESETS), root, console=console, progress=progress)
    bad = [name for name in DEMO_PRESETS if dataset_status(name, root).state is not FileState.VERIFIED]
    if bad:
        raise DemoDataMissingError(
            f"{', '.join(bad)} missing or not matching its checksum in {root}; the demo only reads a data folder "
            "you give it",
            hint=f"fetch it there with `prgym data fetch {' '.join(bad)} --data-dir {root}`, or unset "
            f"{DATA_DIR_ENV} to let the demo download into the user cache",
        )
    return root


class DemoDataMissingError(UserError, ValueError):
    """The data folder the user named lacks a demo dataset (the demo never writes into it)."""


def demo_snapshot(data_dir: Path, workdir: Path, console: Console, progress: bool = True) -> Path:
    """The demo catalog under ``workdir``: reused when its manifest lists the demo presets' sources."""
    out = workdir / "snapshots" / "demo"
    manifest = out / "manifest.json"
    if manifest.is_file():
        sources = {
            s.get("source") for s in json.loads(manifest.read_text(encoding="utf-8")).get("sources", [])
        }
        if sources == set(DEMO_PRESETS):
            console.print(f"catalog: reusing {out}")
            return out
    console.print(f"catalog: building {', '.join(DEMO_PRESETS)} into {out} (a few seconds) ...")
    specs = [spec for name in DEMO_PRESETS for spec in preset(name, data_dir)]
    return build_snapshot(specs, out, show_progress=progress).snapshot_dir


def run_demo(
    *,
    policy: str = "scripted",
    n_tasks: int = 4,
    seed: int = 0,
    out: Path | None = None,
    data_dir: Path | None = None,
    workdir: Path | None = None,
    llm_config: Path | None = None,
    llm_set: list[str] | None = None,
    supervisor: str = "rules",
    console: Console | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> dict[str, object]:
    """Run the demo and return its figures (also printed)."""
    console = console or Console()
    home = demo_data_home(data_dir, console, progress)
    workdir = workdir or default_workdir()
    snapshot = demo_snapshot(home, workdir, console, progress)
    backend = shared_backend(snapshot)
    tasks = TaskSet(generate_tasks(backend, n_tasks, seed))
    name = f"demo-{policy}-seed{seed}" + ("" if supervisor == "rules" else f"-sup-{supervisor}")
    run_dir = out or (workdir / "runs" / name.replace(":", "-").replace("/", "-"))
    tasks.save(run_dir / "tasks.jsonl")
    console.print(
        f"catalog {getattr(backend, 'snapshot_id', '?')} ({len(backend):,} products, demo subset: "
        f"{', '.join(DEMO_PRESETS)}); {len(tasks)} tasks from the user agent (seed {seed}); policy {policy}; "
        f"supervisor {supervisor}"
    )
    summary = asyncio.run(
        run_tasks(
            tasks=tasks, catalog=snapshot, policies=[policy], trials=1, out=run_dir, seed=seed,
            llm_config=llm_config, llm_set=llm_set, progress=progress, supervisor=supervisor,
            retry_failed=retry_failed,
        )
    )  # fmt: skip
    first = tasks.tasks[0]
    traces_path = run_dir / TRACES_NAME
    console.print(Panel(first.query, title=f"task {first.task_id}"))
    report = first_report(read_traces(traces_path), first.task_id)
    if report:
        console.print(Panel(Markdown(report), title="the agent's report (first task, from its trace)"))
    else:
        console.print(f"(no final report was recorded for {first.task_id})")
    table, figures = metrics_table(run_dir)
    console.print(table)
    console.print(f"results: {run_dir / 'results.jsonl'} (tasks: {run_dir / 'tasks.jsonl'})", soft_wrap=True)
    console.print(f"traces: {traces_path} (prgym distill {run_dir} --out {run_dir}/sft)", soft_wrap=True)
    return {
        "run_dir": str(run_dir),
        "traces": str(traces_path),
        "report": report,
        "figures": figures,
        "summary": summary,
    }


def first_report(traces: list[EpisodeTrace], task_id: str) -> str | None:
    """The final report recorded for ``task_id`` (its last finished trace), or None when it submitted none."""
    mine = [t for t in traces if t.task_id == task_id and t.finished]
    if not mine:
        return None
    report = mine[-1].report
    return report if report and report.strip() else None
