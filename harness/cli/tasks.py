"""``prgym tasks generate``: write a research task set with the user agent (template or LLM writer)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from harness.cli import synthesize as synthesize_cmd
from harness.llm.client import LLMClient
from harness.llm.config import ConfigError, load_llm_config
from harness.llm.spec import model_of
from harness.user_agent.generate import generate_llm_tasks, generate_user_tasks
from sandbox.catalog.backend import CatalogBackend
from sandbox.env import shared_backend
from sandbox.progress import ProgressBar
from sandbox.tasks.models import ResearchTask
from sandbox.tasks.taskset import TaskSet

app = typer.Typer(help="Generate research task sets.", no_args_is_help=True)
console = Console()
app.command(
    "synthesize", help="ShoppingBench-style shopping tasks over any catalog, verified by construction."
)(synthesize_cmd.synthesize)


@app.command("generate")
def generate(
    catalog: Path = typer.Option(..., "--catalog", help="Catalog snapshot directory."),
    n: int = typer.Option(200, "-n", "--n", min=1, help="Number of tasks."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed and catalog give the same tasks."),
    out: Path = typer.Option(..., "--out", "-o", help="Task-set JSONL to write."),
    min_products: int = typer.Option(3, "--min-products", min=1, help="Products each report must compare."),
    writer: str = typer.Option(
        "template",
        "--writer",
        help="template (offline) or openai:MODEL (the LLM user agent, role user_agent).",
    ),
    llm_config: Path = typer.Option(None, "--llm-config", help="TOML/JSON with per-role LLM settings."),
    llm_set: list[str] = typer.Option(None, "--llm-set", help="LLM setting key=value (repeatable)."),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="LLM requests in flight."),
    max_attempts: int = typer.Option(
        3, "--max-attempts", min=1, help="LLM calls per task before falling back to the template."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Draw a behaviour history per task from the catalog, infer the persona and write the task and rubric."""
    if not (catalog / "manifest.json").is_file():
        typer.echo(f"error: --catalog {catalog}: not a snapshot directory (no manifest.json)", err=True)
        raise typer.Exit(2)
    try:
        model = model_of(writer, flag="--writer", alternatives=("template",))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    client = None
    if model:
        try:
            config = load_llm_config(
                "user_agent", file=llm_config, overrides=[*(llm_set or []), f"model={model}"]
            )
        except ConfigError as exc:
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
            raise typer.Exit(2) from None
        client = LLMClient(config)
    backend = shared_backend(catalog)
    bar = ProgressBar(
        TextColumn("[bold]tasks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not progress,
    )
    with bar:
        handle = bar.add_task("tasks", total=n)
        if client is None:
            tasks = generate_user_tasks(
                backend, n, seed, min_products=min_products, on_task=lambda _: bar.advance(handle)
            )
        else:
            tasks = asyncio.run(
                _llm_tasks(client, backend, n, seed, min_products, max_attempts, concurrency, bar)
            )
    TaskSet(tasks).save(out)
    fallbacks = [t for t in tasks if t.meta.get("writer") == "template-fallback"]
    summary = (
        f" ({len(fallbacks)} written by the template after the LLM failed)" if client is not None else ""
    )
    console.print(
        f"wrote {len(tasks)} tasks to {out} (catalog {getattr(backend, 'snapshot_id', '?')}, writer {writer})"
        + summary,
        soft_wrap=True,
    )
    for task in fallbacks[:5]:
        console.print(f"  {task.task_id}: {task.meta.get('fallback_reason')}", soft_wrap=True)


async def _llm_tasks(
    client: LLMClient,
    backend: CatalogBackend,
    n: int,
    seed: int,
    min_products: int,
    max_attempts: int,
    concurrency: int,
    bar: Progress,
) -> list[ResearchTask]:
    """The LLM writer's tasks with the bar advancing as each one is written; the client is closed after."""
    handle = bar.task_ids[0]
    try:
        return await generate_llm_tasks(
            client,
            backend,
            n,
            seed,
            min_products=min_products,
            max_attempts=max_attempts,
            concurrency=concurrency,
            on_task=lambda _: bar.advance(handle),
        )
    finally:
        await client.aclose()
