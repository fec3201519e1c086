"""`prgym data` commands: fetch the sample datasets, show their state, print the data home.

The work is done in :mod:`catalog_loader.fetch` and :mod:`catalog_loader.datahome`; this module only turns
arguments into calls and errors into one readable line and an exit code (1 for a failed fetch, 2 for bad input).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from catalog_loader.datahome import FileState, dataset_status, resolve_data_dir
from catalog_loader.datasets import DATASET_NAMES, DATASETS, UnknownDatasetError, expand_names
from catalog_loader.fetch import MIRROR_ENV, FetchError, fetch_datasets
from harness.flags import deprecated_option, deprecation_note

app = typer.Typer(no_args_is_help=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data home to use (default: $PRGYM_DATA_DIR, else the user cache directory).",
        file_okay=False,
    ),
]


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@app.command()
def fetch(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help=f"Datasets to fetch: {', '.join(DATASET_NAMES)}, or 'all' (the default).", show_default=False
        ),
    ] = None,
    mirror: Annotated[
        str | None,
        typer.Option(
            "--mirror",
            help=f"Download from <URL>/<relative path> instead of the public sources (env: {MIRROR_ENV}).",
            metavar="URL",
        ),
    ] = None,
    data_dir: DataDirOption = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
    quiet: bool = deprecated_option("--quiet", "--no-progress", short="-q", flag=True),
) -> None:
    """Download the sample datasets into the data home, verify their SHA-256 sums and resume broken transfers.

    Files already present and verified are used as they are. 'homedepot' is derived and cannot be downloaded:
    it must come from a local copy ($PRGYM_DATA_DIR) or a --mirror that serves one.
    """
    err = Console(stderr=True)
    if quiet:
        deprecation_note("--quiet", "--no-progress")
        progress = False
    wanted = names or ["all"]
    try:
        expand_names(wanted)
    except UnknownDatasetError as exc:
        raise typer.BadParameter(str(exc), param_hint="NAMES") from None
    explicit = set(wanted) - {"all"}
    # With 'all', a derived dataset that cannot be had is reported, not fatal; named explicitly, it is an error.
    skip_derived = not any(DATASETS[n].derived for n in explicit)
    try:
        report = fetch_datasets(
            wanted, data_dir, mirror, skip_derived=skip_derived, progress=progress, console=err
        )
    except FetchError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    fetched = [f for f in report.files if f.action != "present"]
    present = len(report.files) - len(fetched)
    err.print(
        f"{len(fetched)} file(s) downloaded ({_human(report.bytes_transferred)}), {present} already present and "
        f"verified, in {report.data_dir}",
        highlight=False,
        soft_wrap=True,
    )
    for name in report.skipped_derived:
        err.print(
            f"[yellow]note:[/yellow] {name} skipped: it is derived and cannot be downloaded; run "
            f"'prgym data fetch {name}' for how to provide it",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def status(data_dir: DataDirOption = None) -> None:
    """Show, for each dataset, whether its files are present and verified in the data home."""
    root = resolve_data_dir(data_dir)
    table = Table(title=f"prgym data in {root}", title_justify="left")
    table.add_column("dataset", no_wrap=True)
    table.add_column("files", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True)
    colors = {FileState.VERIFIED: "green", FileState.MISSING: "yellow", FileState.CORRUPT: "red"}
    all_verified = True
    for name, dataset in DATASETS.items():
        st = dataset_status(dataset, root)
        all_verified = all_verified and st.verified
        state = st.state
        label = state.value
        if state is not FileState.VERIFIED and any(f.partial_bytes for f in st.files):
            label += " (part)"
        table.add_row(
            name,
            f"{st.n_verified}/{len(st.files)}",
            f"[{colors[state]}]{label}[/{colors[state]}]",
            _human(dataset.size),
            "derived" if dataset.derived else "github",
        )
    out = Console()
    out.print(table)
    if not all_verified:
        out.print(
            "fetch what is missing with 'prgym data fetch [NAME|all]'; 'derived' datasets come from a local copy "
            "(PRGYM_DATA_DIR) or a mirror",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def path(data_dir: DataDirOption = None) -> None:
    """Print the data home (the folder the datasets are read from and fetched into)."""
    typer.echo(str(resolve_data_dir(data_dir)))
