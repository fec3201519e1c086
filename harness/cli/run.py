"""``prgym run``: tasks x policies x trials on a catalog, with traces and episode metrics (a thin command).

The logic lives in :mod:`harness.rollout.prgym` (shared with ``prgym demo`` and ``prgym rollout``): the env is
a :class:`~sandbox.env.ProductResearchEnv` over ``--catalog``, set up further with ``--env-arg key=value``
(any env argument: ``web``, ``backend_kind``, ``reward``, ``plan_revisions``, ``report_revisions``,
``task_mode``, ``page_size``, ...; values are JSON when they parse as JSON), and every episode's trace goes to
``OUT/traces.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import typer
from rich.console import Console

from harness.cli.errors import INTERRUPTED_EXIT
from harness.flags import concurrency_option, max_steps_option, progress_option
from harness.llm.config import ConfigError
from harness.rollout.cli import SetupError, parse_env_args
from harness.rollout.preflight import file_checksum
from harness.rollout.prgym import TRACES_NAME, metrics_table, run_tasks
from harness.rollout.store import read_records
from harness.rollout.summary import RolloutSummary
from harness.run_config import config_option
from sandbox.tasks.taskset import TaskSet, load_tasks

console = Console()


def run(
    tasks: Path = typer.Option(
        ..., "--tasks", "-t", help="Task-set JSONL (prgym tasks generate) or ShoppingBench file."
    ),
    catalog: Path = typer.Option(
        None, "--catalog", help="Catalog snapshot directory (not needed with --env-url)."
    ),
    policy: list[str] = typer.Option(
        ["scripted"], "--policy", "-p", help="scripted | openai:MODEL (repeatable)."
    ),
    env_url: str = typer.Option(
        None,
        "--env-url",
        help="Run the episodes on prgym serve servers URL[,URL...] (spread, retried elsewhere if one drops).",
    ),
    env_token: str = typer.Option(
        None, "--env-token", help="Bearer token of the env servers (default: $PRGYM_SERVER_TOKEN)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Run directory (results.jsonl, summary.json, metrics.json)."
    ),
    concurrency: int = concurrency_option("Episodes in flight at once."),
    trials: int = typer.Option(1, "--trials", "-k", min=1),
    seed: int = typer.Option(0, "--seed"),
    max_steps: int = max_steps_option(),
    timeout: float = typer.Option(600.0, "--timeout", help="Per-episode timeout in seconds (0: none)."),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the first N tasks (0: all)."),
    llm_config: Path = typer.Option(None, "--llm-config", help="TOML/JSON with per-role LLM settings."),
    llm_set: list[str] = typer.Option(None, "--llm-set", help="LLM setting key=value (repeatable)."),
    keep_tool_results: int = typer.Option(8, "--keep-tool-results", min=0, help="Tool results kept in full."),
    supervisor: str = typer.Option(
        "rules", "--supervisor", help="rules (rule-based) or openai:MODEL (LLM supervisor, role supervisor)."
    ),
    env_arg: list[str] = typer.Option(
        None,
        "--env-arg",
        help="Env argument key=value (JSON values), e.g. backend_kind=hybrid, report_revisions=2, "
        'reward=\'{"research_weights": {"accepted": 1}}\' (repeatable).',
    ),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Run the episodes recorded as failed again (after fixing the cause)."
    ),
    progress: bool = progress_option("Show the live progress bar."),
    config: Path = config_option(),
) -> None:
    """Run every task x policy x trial not yet in OUT/results.jsonl and print reward and research metrics.

    Before the first episode the catalog is opened, each LLM endpoint is checked and OUT/run.json pins the
    catalog, seed and task file; a rerun into the same OUT resumes only with the same ones. Exits 1 when every
    episode of the run failed. --config run.toml reads the options from a file (flags given override it).
    """
    try:
        taskset = load_tasks(tasks)
        if limit:
            taskset = TaskSet(list(taskset)[:limit])
        urls = [u for u in (env_url or "").split(",") if u.strip()] or None
        if urls is None and catalog is None:
            raise ValueError("--catalog is required (or --env-url URL[,URL...] to run on env servers)")
        if catalog is not None and not (catalog / "manifest.json").is_file():
            raise ValueError(f"--catalog {catalog}: not a snapshot directory (no manifest.json)")
        checksum = file_checksum(tasks) if tasks.is_file() else None
        summary = asyncio.run(
            run_tasks(
                tasks=taskset, catalog=catalog, policies=list(policy), trials=trials, out=out,
                concurrency=concurrency, seed=seed, max_steps=max_steps, timeout_s=timeout or None,
                llm_config=llm_config, llm_set=list(llm_set or []), keep_tool_results=keep_tool_results,
                progress=progress, supervisor=supervisor, env_args=parse_env_args(list(env_arg or [])),
                env_urls=urls, env_token=env_token or os.environ.get("PRGYM_SERVER_TOKEN") or None,
                retry_failed=retry_failed, tasks_checksum=checksum, tasks_path=tasks,
            )
        )  # fmt: skip
    except (SetupError, ValueError, ConfigError, FileNotFoundError) as exc:
        typer.echo(
            f"error: {' '.join(str(exc).split())}", err=True
        )  # one line on stderr, like every user error
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(interrupted_exit(out)) from None
    summary.print(console)
    failed_hint(summary, retry_failed, console)
    table, figures = metrics_table(out)
    console.print(table)
    (out / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    console.print(f"results: {out / 'results.jsonl'}", soft_wrap=True)
    console.print(f"traces: {out / TRACES_NAME}", soft_wrap=True)
    typer.echo(json.dumps({"policies": figures}))
    if summary.failed and not summary.completed:
        raise typer.Exit(1)


def failed_hint(summary: RolloutSummary, retried: bool, console: Console) -> None:
    """Say what to do about failures: every one failed (the run exits 1), or failures kept from an earlier run."""
    if summary.failed and not summary.completed:
        reasons = ", ".join(f"{k}: {v}" for k, v in summary.failures_by_reason.items())
        console.print(
            f"[red]every episode failed[/red] ({reasons}); the reasons and tracebacks are in results.jsonl. "
            "Fix the cause, then rerun the same command with --retry-failed.",
            soft_wrap=True,
        )
    elif summary.failed and not retried:
        console.print(
            f"{summary.failed} failed episode(s) are kept in results.jsonl; --retry-failed runs them again.",
            soft_wrap=True,
        )


def interrupted_exit(out: Path) -> int:
    """Ctrl-C: say what was kept and how to resume, and return the shell's exit code for it."""
    try:
        kept = len(read_records(out))
    except Exception:  # the message matters more than the count
        kept = 0
    typer.echo(
        f"interrupted: {kept} finished episode(s) are kept in {out / 'results.jsonl'}; "
        "run the same command again to resume (finished episodes are skipped)",
        err=True,
    )
    return INTERRUPTED_EXIT
