"""``prgym demo``: fetch sample data if needed, build the demo catalog, generate tasks, run an agent, report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from catalog_loader.fetch import FetchError
from harness.cli.run import failed_hint
from harness.demo import run_demo
from harness.flags import aliased, deprecated_option, progress_option
from harness.rollout.summary import RolloutSummary


def demo(
    ctx: typer.Context,
    policy: str = typer.Option("scripted", "--policy", "-p", help="scripted (no LLM) or openai:MODEL."),
    n: int = typer.Option(4, "--n", "-n", min=1, max=50, help="How many tasks to generate and run."),
    tasks_count: int | None = deprecated_option("--tasks", "--n"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(None, "--out", "-o", help="Run directory (default: <workdir>/runs/demo-...)."),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Data home (default: $PRGYM_DATA_DIR or user cache)."
    ),
    workdir: Path = typer.Option(
        None, "--workdir", help="Where the demo catalog and runs go (default: the user cache, prgym/demo)."
    ),
    llm_config: Path = typer.Option(None, "--llm-config", help="LLM settings file for openai: policies."),
    llm_set: list[str] = typer.Option(None, "--llm-set", help="LLM setting key=value (repeatable)."),
    supervisor: str = typer.Option("rules", "--supervisor", help="rules (no LLM) or openai:MODEL."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Run the episodes recorded as failed again (after fixing the cause)."
    ),
    progress: bool = progress_option("Show progress bars (data fetch, catalog build, the episodes)."),
) -> None:
    """Run the offline demo: a real catalog, user-agent tasks, the scripted agent and the rule-based supervisor.

    Exits 1 when every episode failed (say, the LLM endpoint went away mid-run).
    """
    n_tasks = aliased(ctx, "n", "tasks_count", "--n", "--tasks")
    try:
        result = run_demo(
            policy=policy, n_tasks=n_tasks, seed=seed, out=out, data_dir=data_dir, workdir=workdir, llm_config=llm_config,
            llm_set=list(llm_set or []), supervisor=supervisor, retry_failed=retry_failed,
            progress=progress,
        )  # fmt: skip
    except (FetchError, ValueError) as exc:  # ConfigError is a ValueError
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    summary = result["summary"]
    assert isinstance(summary, RolloutSummary)
    failed_hint(summary, retry_failed, Console())
    if summary.failed and not summary.completed:
        raise typer.Exit(1)
