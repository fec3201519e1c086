"""``prgym judge RUNS --reference REF_RUNS``: RACE-style relative scores of recorded reports."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.flags import aliased, concurrency_option, deprecated_option, progress_option
from harness.judge.cache import JudgeCache
from harness.judge.judge import JudgeResult, RaceJudge
from harness.judge.runs import judge_runs
from harness.llm import ConfigError, LLMClient, load_llm_config
from sandbox.progress import ProgressBar
from sandbox.recorder.reader import TraceFormatError, read_traces


def judge_command(
    ctx: typer.Context,
    runs: list[Path] = typer.Argument(..., help="Traces files or directories of the reports to judge."),
    reference: Path = typer.Option(..., "--reference", "-r", help="Traces of the reference reports."),
    out: Path = typer.Option(Path("judge.jsonl"), "--out", "-o", help="One JudgeResult per target (JSONL)."),
    judge_cache: Path = typer.Option(
        Path("judge_cache.sqlite"), "--judge-cache", help="SQLite cache of judge calls (as in prgym eval)."
    ),
    cache: Path = deprecated_option("--cache", "--judge-cache"),
    llm_config: Path | None = typer.Option(
        None, "--llm-config", help="TOML/JSON file with a \\[judge] table."
    ),
    llm_set: list[str] = typer.Option([], "--llm-set", help="Override a judge LLM field: key=value."),
    max_attempts: int = typer.Option(
        3, "--max-attempts", min=1, help="Calls per judgement when replies are malformed."
    ),
    concurrency: int = concurrency_option("Judge calls in flight at once."),
    progress_bars: bool = progress_option(),
) -> None:
    """Judge every target report against the reference report of the same task (relative score x100)."""
    console = Console(stderr=True)
    cache_path = aliased(ctx, "judge_cache", "cache", "--judge-cache", "--cache")
    try:
        targets = read_traces(runs)
        references = read_traces(reference)
        config = load_llm_config("judge", file=llm_config, overrides=llm_set)
    except (TraceFormatError, FileNotFoundError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)  # plain: rich would wrap it and eat "[role]" tables
        raise typer.Exit(2) from None
    store = JudgeCache(cache_path)

    async def run() -> list[JudgeResult]:
        async with LLMClient(config) as client:
            judge = RaceJudge(client, store, max_attempts=max_attempts)
            with ProgressBar(
                TextColumn("judging"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable=not progress_bars,
            ) as progress:
                bar = progress.add_task("pairs", total=len(targets))
                return await judge_runs(
                    judge,
                    targets,
                    references,
                    concurrency=concurrency,
                    progress=lambda _: progress.advance(bar),
                )

    try:
        results = asyncio.run(run())
    finally:
        store.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for result in results:
            handle.write(result.model_dump_json() + "\n")
    Console().print(summary_table(results, store))


def summary_table(results: list[JudgeResult], store: JudgeCache) -> Table:
    """Per teacher: judged / failed, mean relative score x100 overall and per dimension; failure reasons."""
    table = Table(
        title=f"RACE judge: {len(results)} reports (cache hits {store.hits}, misses {store.misses})"
    )
    dims = sorted({d for r in results if r.score for d in r.score.per_dimension})
    table.add_column("teacher")
    table.add_column("judged", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("RACE x100", justify="right")
    for d in dims:
        table.add_column(d, justify="right")
    by_teacher: dict[str, list[JudgeResult]] = defaultdict(list)
    for r in results:
        by_teacher[r.teacher].append(r)
    for teacher, rows in sorted(by_teacher.items()):
        ok = [r.score for r in rows if r.score is not None]
        mean = f"{100 * sum(s.relative for s in ok) / len(ok):.2f}" if ok else "n/a"
        cells = []
        for d in dims:
            values = [s.per_dimension[d] for s in ok if d in s.per_dimension]
            cells.append(f"{100 * sum(values) / len(values):.2f}" if values else "n/a")
        table.add_row(teacher, str(len(ok)), str(len(rows) - len(ok)), mean, *cells)
    reasons = Counter(r.reason for r in results if r.status == "failed")
    for reason, count in sorted(reasons.items()):
        table.add_row(f"failed: {reason}", "", str(count), "", *[""] * len(dims))
    return table


def register(app: typer.Typer) -> None:
    """Mount ``prgym judge`` on the top-level app."""
    app.command("judge")(judge_command)
