"""``prgym tasks generate``: write a research task set with the user agent (offline template variant)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from harness.user_agent.generate import generate_user_tasks
from sandbox.env import shared_backend
from sandbox.tasks.taskset import TaskSet

app = typer.Typer(help="Generate research task sets.", no_args_is_help=True)
console = Console()


@app.command("generate")
def generate(
    catalog: Path = typer.Option(..., "--catalog", help="Catalog snapshot directory."),
    n: int = typer.Option(200, "-n", "--n", min=1, help="Number of tasks."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed and catalog give the same tasks."),
    out: Path = typer.Option(..., "--out", "-o", help="Task-set JSONL to write."),
    min_products: int = typer.Option(3, "--min-products", min=1, help="Products each report must compare."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Draw a behaviour history per task from the catalog, infer the persona and write the task and rubric."""
    if not (catalog / "manifest.json").is_file():
        console.print(f"[red]error:[/red] --catalog {catalog}: not a snapshot directory (no manifest.json)")
        raise typer.Exit(2)
    backend = shared_backend(catalog)
    bar = Progress(
        TextColumn("[bold]tasks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not progress,
    )
    with bar:
        handle = bar.add_task("tasks", total=n)
        tasks = generate_user_tasks(
            backend, n, seed, min_products=min_products, on_task=lambda _: bar.advance(handle)
        )
    TaskSet(tasks).save(out)
    console.print(f"wrote {len(tasks)} tasks to {out} (catalog {getattr(backend, 'snapshot_id', '?')})")
