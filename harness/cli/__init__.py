"""The ``prgym`` command line: one sub-command group per area (catalog, data, web, ...)."""

from __future__ import annotations

import typer

from harness.cli import catalog as catalog_cmd
from harness.cli import data as data_cmd
from harness.cli import web as web_cmd
from harness.rollout.cli import run as run_cmd

app = typer.Typer(
    name="prgym",
    help="Catalog-grounded e-commerce sandbox and harness for deep product research agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(catalog_cmd.app, name="catalog", help="Build, search and inspect catalog snapshots.")
app.add_typer(data_cmd.app, name="data", help="Fetch and locate the sample datasets.")
app.add_typer(web_cmd.app, name="web", help="Web search cache and local corpus.")
app.command("run", help="Roll out tasks x policies x trials into OUT/results.jsonl (resumable).")(run_cmd)


def main() -> None:
    app()
