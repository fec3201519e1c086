"""``prgym view RUN_DIR [RUN_DIR ...] --out report.html``: a self-contained HTML report of one or more runs."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from harness.view import build_report
from harness.view.load import RunFolderError
from sandbox.progress import ProgressBar


def view_command(
    runs: list[Path] = typer.Argument(
        ..., help="Run folders written by 'prgym run' / 'prgym demo' (several: shown side by side)."
    ),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write."),
    distill: Path | None = typer.Option(
        None,
        "--distill",
        help="A 'prgym distill --out' folder (its JSONL split files) or file: adds the distill view to its episodes.",
    ),
    decisions: Path | None = typer.Option(
        None, "--decisions", help="Its keep/drop decisions (default: decisions*.jsonl beside --distill)."
    ),
    title: str | None = typer.Option(None, "--title", help="Page title (default: the run folder names)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as one JSON object."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    """Write one HTML file (no server, no network) with the run overview, episode list and episode views."""
    console = Console(stderr=True)
    bar = ProgressBar(
        TextColumn("episodes"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=not progress or as_json, transient=True,
    )  # fmt: skip
    task = bar.add_task("episodes", total=None)
    try:
        with bar:
            stats = build_report(
                runs,
                out,
                distill=distill,
                decisions=decisions,
                title=title,
                on_episode=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except (RunFolderError, OSError) as exc:
        if debug:
            raise
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    figures = {
        "out": str(stats.path),
        "episodes": stats.episodes,
        "runs": stats.runs,
        "bytes": stats.bytes,
        "file_mb": round(stats.megabytes, 3),
        "build_s": round(stats.build_s, 3),
    }
    if as_json:
        typer.echo(json.dumps(figures))
    else:
        typer.echo(
            f"wrote {stats.path} ({stats.megabytes:.2f} MB, {stats.episodes} episodes from {stats.runs} run(s), "
            f"{stats.build_s:.1f} s); open it in a browser"
        )


def register(app: typer.Typer) -> None:
    """Mount ``prgym view`` on the top-level app."""
    app.command("view")(view_command)
