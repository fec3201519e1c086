"""``prgym tasks``: the one task CLI over the one generator of each task kind.

* ``generate``: research tasks from :mod:`sandbox.tasks.generator` (behaviour history -> persona -> writer;
  ``--writer template`` offline or ``openai:MODEL``, the LLM user agent);
* ``synthesize``: ShoppingBench-style shopping tasks verified by construction (:mod:`sandbox.tasks.synthesis`);
* ``shoppingbench``: ShoppingBench files converted into one task set.

``--fractions`` gives generated or converted tasks train / eval / test splits (by hashing ``split-seed:task_id``, stable as a set
grows); without it no split is written.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from harness.cli import synthesize as synthesize_cmd
from harness.llm.client import LLMClient
from harness.llm.config import ConfigError, load_llm_config
from harness.llm.spec import model_of
from harness.user_agent import LLMTaskWriter
from sandbox.catalog.backend import CatalogBackend
from sandbox.env import shared_backend
from sandbox.errors import UserError
from sandbox.progress import ProgressBar
from sandbox.tasks.generator import agenerate_tasks, generate_tasks
from sandbox.tasks.models import ResearchTask
from sandbox.tasks.taskset import TaskSet, load_tasks

app = typer.Typer(help="Generate, synthesize or convert task sets.", no_args_is_help=True)
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
    fractions: str = typer.Option(
        None, "--fractions", help="train,eval,test fractions (e.g. 0.8,0.1,0.1): write splits."
    ),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the split assignment."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Draw a behaviour history per task from the catalog, infer the persona and write the task and rubric."""
    splits = parse_fractions(fractions)
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
            tasks = generate_tasks(
                backend, n, seed, min_products=min_products, on_task=lambda _: bar.advance(handle)
            )
        else:
            tasks = asyncio.run(
                _llm_tasks(client, backend, n, seed, min_products, max_attempts, concurrency, bar)
            )
    save_tasks(TaskSet(tasks), out, splits, split_seed)
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
        return await agenerate_tasks(
            backend,
            n,
            seed,
            writer=LLMTaskWriter(client, max_attempts=max_attempts),
            min_products=min_products,
            concurrency=concurrency,
            on_task=lambda _: bar.advance(handle),
        )
    finally:
        await client.aclose()


def parse_fractions(text: str | None) -> tuple[float, float, float] | None:
    """``0.8,0.1,0.1`` -> the train, eval, test fractions (None: write no splits)."""
    if text is None:
        return None
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1) > 1e-9:
        raise UserError(
            f"--fractions {text!r}: expected three non-negative numbers train,eval,test summing to 1, "
            "e.g. 0.8,0.1,0.1"
        )
    return parts[0], parts[1], parts[2]


def save_tasks(
    tasks: TaskSet, out: Path, fractions: tuple[float, float, float] | None, split_seed: int
) -> TaskSet:
    """Write ``tasks`` (with splits when ``fractions`` is given); returns what was written."""
    if fractions is not None:
        tasks = tasks.with_splits(seed=split_seed, fractions=fractions)
    tasks.save(out)
    return tasks


@app.command("shoppingbench")
def shoppingbench(
    src: Path = typer.Option(
        ..., "--src", help="A ShoppingBench synthesize_*.jsonl file or their directory."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Task-set JSONL to write."),
    fractions: str = typer.Option(
        None, "--fractions", help="train,eval,test fractions (e.g. 0.8,0.1,0.1): write splits."
    ),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the split assignment."),
) -> None:
    """Convert ShoppingBench files into one task set (prgym run reads them as they are too)."""
    if not src.exists():
        raise UserError(f"--src {src}: no such file or directory")
    written = save_tasks(load_tasks(src), out, parse_fractions(fractions), split_seed)
    counts = Counter(t.split or "no split" for t in written)
    console.print(
        f"wrote {len(written)} tasks to {out} ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})",
        soft_wrap=True,
    )
