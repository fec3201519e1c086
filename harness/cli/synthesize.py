"""``prgym tasks synthesize``: ShoppingBench-style shopping tasks over any catalog snapshot."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

from sandbox.errors import UserError
from sandbox.progress import ProgressBar
from sandbox.tasks.synthesis import INTENTS, SynthesisConfig, synthesize_tasks
from sandbox.tasks.taskset import TaskSet

console = Console(stderr=True)


def parse_counts(spec: str) -> dict[str, int]:
    """``product=100,shop=50`` -> counts; a bare number means that many of each intent."""
    spec = spec.strip()
    if spec.isdigit():
        return {i: int(spec) for i in INTENTS}
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        if name not in INTENTS or not value.strip().isdigit():
            raise UserError(
                f"--n {spec!r}: bad part {part!r}",
                hint=f"write a number or intent=count pairs, intents: {', '.join(INTENTS)}",
            )
        counts[name] = int(value)
    return counts


def make_writer(writer: str, llm_config: Path | None, llm_set: list[str] | None):
    from harness.llm.spec import model_of

    try:
        model = model_of(writer, flag="--writer", alternatives=("template",))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if model is None:
        return None
    from harness.llm.client import LLMClient
    from harness.llm.config import load_llm_config
    from harness.user_agent.shopping_writer import LLMWriter

    config = load_llm_config("user_agent", file=llm_config, overrides=[*(llm_set or []), f"model={model}"])
    return LLMWriter(LLMClient(config), model)


def synthesize(
    catalog: Path = typer.Option(..., "--catalog", help="Catalog snapshot directory."),
    n: str = typer.Option("20", "-n", "--n", help="Tasks per intent: 20, or product=100,shop=50,voucher=50."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed, catalog and writer give the same file."),
    out: Path = typer.Option(..., "--out", "-o", help="Task-set JSONL to write."),
    writer: str = typer.Option("template", "--writer", help="template (offline) or openai:MODEL."),
    max_satisfying: int = typer.Option(
        1000, "--max-satisfying", help="Reject tasks with more satisfying products."
    ),
    web_corpus: str = typer.Option(
        None, "--web-corpus", help="Web corpus / cache (needed by the knowledge intent)."
    ),
    llm_config: Path = typer.Option(None, "--llm-config", help="TOML/JSON with per-role LLM settings."),
    llm_set: list[str] = typer.Option(None, "--llm-set", help="LLM setting key=value (repeatable)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Sample products, sample their fields, write a query stating each one; keep only verified tasks."""
    from sandbox.env import shared_backend

    if not (catalog / "manifest.json").is_file():
        raise UserError(f"--catalog {catalog}: not a snapshot directory (no manifest.json)")
    config = SynthesisConfig(
        counts=parse_counts(n), seed=seed, max_satisfying=max_satisfying, web_corpus=web_corpus
    )  # type: ignore[arg-type]
    query_writer = make_writer(writer, llm_config, llm_set)
    try:
        report = write_suite(shared_backend(catalog), config, out, query_writer, progress)
    finally:
        if query_writer is not None:
            query_writer.close()
    console.print(
        f"wrote {len(report.tasks)} tasks to {out} (accept rate {report.accept_rate:.2f}; "
        f"rejections {report.rejections})",
        soft_wrap=True,
    )


def write_suite(backend, config: SynthesisConfig, out: Path, writer, progress: bool):
    """Synthesize with a progress bar, print skipped-intent messages, save the task set; returns the report."""
    total = sum(v for k, v in config.counts.items() if k != "knowledge" or config.web_corpus)
    bar = ProgressBar(
        TextColumn("[bold]synthesize"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, disable=not progress,
    )  # fmt: skip
    with bar:
        handle = bar.add_task("synthesize", total=total)
        report = synthesize_tasks(
            backend, config, writer=writer, on_task=lambda _, ok: bar.advance(handle) if ok else None
        )
    for message in report.messages:
        console.print(message, soft_wrap=True)
    TaskSet(report.tasks).save(out)
    return report
