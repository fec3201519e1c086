"""``prgym distill RUNS --out DIR``: recorded traces to a filtered, internalized SFT dataset (a split file per
task split and a dataset card), written the way the chosen chat template needs it."""

from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.distill.ensemble import select_teachers
from harness.distill.export import (
    CardInfo,
    ExportOptions,
    is_local_target,
    push_dataset,
    write_dataset,
    write_file,
)
from harness.distill.filters import Candidate, FilterConfig, apply_filters
from harness.distill.pipeline import DistillReport, build_candidates, distill, rewrite_kept
from harness.distill.rewrite import LLMRewriter, rewrite_summary
from harness.flags import aliased, concurrency_option, deprecated_option, progress_option
from harness.judge.cache import JudgeCache
from harness.llm import ConfigError, LLMClient, LLMConfig, load_llm_config
from harness.llm.spec import model_of
from sandbox.errors import UserError
from sandbox.progress import ProgressBar
from sandbox.recorder.reader import TraceFormatError, read_traces

FILE_SUFFIXES = {".jsonl": "jsonl", ".parquet": "parquet"}


def _judge_scores(path: Path) -> dict[str, float]:
    """Relative RACE scores by target episode from a ``prgym judge --out`` file."""
    scores = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise typer.BadParameter(
                    f"{path}:{number}: not JSON ({exc})", param_hint="--judge-scores"
                ) from None
            if row.get("status") == "ok" and row.get("score"):
                scores[str(row["target_episode"])] = float(row["score"]["relative"])
    return scores


def _rewriter_config(rewriter: str, llm_config: Path | None, llm_set: list[str]) -> LLMConfig | None:
    """``None`` for the offline rewriter, else the ``[rewriter]`` LLM config with ``model`` from ``openai:MODEL``."""
    try:
        model = model_of(rewriter, flag="--rewriter", alternatives=("offline",))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rewriter") from None
    if model is None:
        return None
    return load_llm_config("rewriter", file=llm_config, overrides=[*llm_set, f"model={model}"])


def distill_command(
    ctx: typer.Context,
    runs: list[Path] = typer.Argument(..., help="Traces files or directories (*traces*.jsonl below them)."),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Dataset folder: <split>.jsonl (or .parquet) per task split and a README.md card. A path ending in "
        ".jsonl or .parquet writes every sample to that one file instead (no card).",
    ),
    data_format: str | None = typer.Option(
        None, "--format", help="jsonl or parquet (default: from an --out file's suffix, else jsonl)."
    ),
    arguments: str = typer.Option(
        "object",
        "--arguments",
        help="Tool-call arguments as JSON 'object' (most chat templates) or 'string' (deepseekv3).",
    ),
    split_parallel_calls: bool = typer.Option(
        False,
        "--split-parallel-calls",
        help="One tool call per assistant turn, each followed by its result (llama3_1, gptoss).",
    ),
    push_to_hub: str | None = typer.Option(
        None,
        "--push-to-hub",
        help="Also publish the folder: a hub dataset repo id (owner/name) or a local folder (./dir, /dir).",
    ),
    min_score: float | None = typer.Option(None, "--min-score", help="Drop trajectories scoring below this."),
    score: str = typer.Option("reward", "--score", help="'reward', a reward component, or 'judge'."),
    judge_scores: Path | None = typer.Option(
        None, "--judge-scores", help="`prgym judge --out` file (for --score judge)."
    ),
    min_tool_turns: int = typer.Option(
        2, "--min-tool-turns", help="Minimum assistant turns calling a research tool."
    ),
    min_grounding: float = typer.Option(
        0.5, "--min-grounding", help="Minimum grounding accuracy (research); 0 = off."
    ),
    best_of_teachers: bool = typer.Option(
        False, "--best-of-teachers", help="Keep only the best trajectory per task (else every accepted one)."
    ),
    keep_rejected: bool = typer.Option(
        False, "--keep-rejected", help="Do not drop trajectories without an accepted answer."
    ),
    no_dedupe: bool = typer.Option(False, "--no-dedupe", help="Keep duplicate trajectories."),
    catalog_dir: Path | None = typer.Option(
        None,
        "--catalog",
        help="Catalog snapshot to check cited ids against (default: ids the traces confirmed).",
    ),
    snapshot: Path | None = deprecated_option("--snapshot", "--catalog"),
    decisions: Path | None = typer.Option(
        None, "--decisions", help="Also write every keep/drop decision (JSONL)."
    ),
    rewriter: str = typer.Option(
        "offline",
        "--rewriter",
        help="'offline' (deterministic) or 'openai:MODEL' (LLM rewrite of each reflection of the kept samples).",
    ),
    llm_config: Path | None = typer.Option(
        None, "--llm-config", help="TOML/JSON file with a \\[rewriter] (or \\[default]) table."
    ),
    llm_set: list[str] = typer.Option([], "--llm-set", help="Override a rewriter LLM field: key=value."),
    rewrite_cache: Path | None = typer.Option(
        None, "--rewrite-cache", help="SQLite cache of rewrites (default: rewrite_cache.sqlite beside --out)."
    ),
    rewrite_attempts: int = typer.Option(
        3, "--rewrite-attempts", min=1, help="LLM calls per reflection before keeping the offline text."
    ),
    concurrency: int = concurrency_option("Samples rewritten at once (LLM calls in flight)."),
    progress_bars: bool = progress_option(),
) -> None:
    """Internalize recorded episodes into single-role training samples, filter them and write the kept ones
    as a dataset for the chat template you train with (see docs/training_data.md for which flags a template
    needs)."""
    console = Console(stderr=True)
    fmt, single_file = _output_kind(out, data_format)
    options = _export_options(arguments, split_parallel_calls)
    if push_to_hub is not None and single_file:
        raise typer.BadParameter(
            "--push-to-hub publishes a dataset folder; give --out a folder, not a file",
            param_hint="--push-to-hub",
        )
    catalog_dir = aliased(ctx, "catalog_dir", "snapshot", "--catalog", "--snapshot")
    try:
        traces = read_traces(runs)
        rewrite_llm = _rewriter_config(rewriter, llm_config, llm_set)
    except (TraceFormatError, FileNotFoundError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)  # plain: rich would wrap it and eat "[role]" tables
        raise typer.Exit(2) from None
    if score == "judge" and judge_scores is None:
        raise typer.BadParameter("--score judge needs --judge-scores FILE", param_hint="--score")
    config = FilterConfig(
        require_accepted=not keep_rejected,
        min_tool_turns=min_tool_turns,
        min_grounding=min_grounding or None,
        min_score=min_score,
        score=score,
        dedupe=not no_dedupe,
    )
    catalog = None
    if catalog_dir is not None:
        from sandbox.env.shared import shared_backend

        catalog = shared_backend(catalog_dir)
    external = _judge_scores(judge_scores) if judge_scores is not None else None
    with ProgressBar(
        TextColumn("internalizing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress_bars,
    ) as progress:
        bar = progress.add_task("traces", total=len(traces))
        candidates = build_candidates(
            traces,
            config,
            catalog=catalog,
            external_scores=external,
            progress=lambda: progress.advance(bar),
        )
    mode = "best" if best_of_teachers else "all"
    rewrites = None
    if rewrite_llm is not None:
        cache = JudgeCache(rewrite_cache or out.parent / "rewrite_cache.sqlite")

        async def run() -> list[Candidate]:
            async with LLMClient(rewrite_llm) as client:
                with ProgressBar(
                    TextColumn(f"rewriting ({rewriter})"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                    disable=not progress_bars,
                ) as progress:
                    kept = select_teachers(candidates, apply_filters(candidates, config), mode)
                    bar = progress.add_task("samples", total=sum(d.kept for d in kept))
                    return await rewrite_kept(
                        candidates,
                        config,
                        mode,
                        LLMRewriter(client, cache=cache, max_attempts=rewrite_attempts),
                        catalog=catalog,
                        concurrency=concurrency,
                        progress=lambda: progress.advance(bar),
                    )

        try:
            candidates = asyncio.run(run())
        finally:
            cache.close()
        rewrites = rewrite_summary([c.internalized for c in candidates])
    samples, report = distill(candidates, config, mode)
    if single_file:
        write_file(samples, out, data_format=fmt, options=options)
        written = {"all splits": (out.name, report.kept)}
    else:
        card = CardInfo(
            runs=[str(r) for r in runs],
            trajectories=len(traces),
            filters=_filters_of(config, best_of_teachers),
            dropped=report.dropped,
            command=_command_line(),
        )
        export = write_dataset(samples, out, data_format=fmt, options=options, card=card)
        written = {split: (name, export.counts[split]) for split, name in export.files.items()}
        if export.misread_numbers:
            console.print(
                f"[yellow]warning:[/yellow] {export.misread_numbers} number(s) in tool-call arguments will load "
                "one unit in the last place off with datasets (its JSON parser misreads e.g. 0.3); the files "
                "are exact (see the dataset card)"
            )
    if decisions is not None:
        with open(decisions, "w", encoding="utf-8") as handle:
            for decision in report.decisions:
                handle.write(decision.model_dump_json() + "\n")
    pushed = None
    if push_to_hub is not None:
        try:
            pushed = push_dataset(export, push_to_hub)
        except UserError:
            raise
        except Exception as exc:  # the hub client's errors (auth, network) become one line
            where = "folder" if is_local_target(push_to_hub) else "hub repo"
            raise UserError(f"--push-to-hub {push_to_hub}: could not publish to the {where}: {exc}") from None
    _print_summary(out, traces, report, config, written, rewrites, rewriter, pushed)


def _output_kind(out: Path, data_format: str | None) -> tuple[Any, bool]:
    """(format, whether ``--out`` names one file) from ``--out`` and ``--format``."""
    suffix_format = FILE_SUFFIXES.get(out.suffix.lower())
    if data_format is not None and data_format not in ("jsonl", "parquet"):
        raise typer.BadParameter(f"expected jsonl or parquet, got {data_format!r}", param_hint="--format")
    if suffix_format is None:
        return data_format or "jsonl", False
    if data_format is not None and data_format != suffix_format:
        raise typer.BadParameter(
            f"--out {out} is a .{suffix_format} file but --format is {data_format}", param_hint="--format"
        )
    return suffix_format, True


def _export_options(arguments: str, split_parallel_calls: bool) -> ExportOptions:
    if arguments not in ("object", "string"):
        raise typer.BadParameter(f"expected object or string, got {arguments!r}", param_hint="--arguments")
    return ExportOptions(arguments=arguments, split_parallel_calls=split_parallel_calls)  # type: ignore[arg-type]


def _filters_of(config: FilterConfig, best_of_teachers: bool) -> dict[str, Any]:
    out = config.model_dump()
    out["best_of_teachers"] = best_of_teachers
    return out


def _command_line() -> str | None:
    """The command as typed (program name shortened to ``prgym``), for the card; ``None`` under a test runner."""
    import sys

    argv = sys.argv[1:]
    if "distill" not in argv:
        return None
    return "prgym " + shlex.join(argv[argv.index("distill") :])


def _print_summary(
    out: Path,
    traces: list[Any],
    report: DistillReport,
    config: FilterConfig,
    written: dict[str, tuple[str, int]],
    rewrites: dict[str, int] | None,
    rewriter: str,
    pushed: str | None,
) -> None:
    table = Table(title=f"distill: {len(traces)} trajectories -> {out}")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    table.add_row("kept", str(report.kept))
    for reason, count in report.dropped.items():
        table.add_row(f"dropped: {reason}", str(count))
    for teacher, count in report.kept_by_teacher.items():
        table.add_row(f"kept from {teacher}", str(count))
    table.add_row("tool turns (kept)", str(report.tool_turns))
    table.add_row("lessons internalized", str(report.lessons))
    if rewrites is not None:
        table.add_row(f"reflections rewritten ({rewriter})", str(rewrites["rewritten"]))
        table.add_row("reflections from the rewrite cache", str(rewrites["cached"]))
        table.add_row("reflections kept offline (fallback)", str(rewrites["fallback"]))
    table.add_row("tokens (kept, as recorded)", str(report.tokens))
    table.add_row(
        f"mean {config.score} (kept)", "n/a" if report.mean_score is None else f"{report.mean_score:.4f}"
    )
    for split, (name, count) in written.items():
        table.add_row(f"written: {split} ({name})", str(count))
    if pushed is not None:
        table.add_row(f"pushed to {pushed}", str(report.kept))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Mount ``prgym distill`` on the top-level app."""
    app.command("distill")(distill_command)
