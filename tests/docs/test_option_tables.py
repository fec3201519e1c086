"""The docs' option tables and the commands' ``--help`` agree, both ways (issue 15 item 6).

docs/harness.md once listed ``prgym rollout``'s options under ``prgym run``. Every ``| option |`` table under a
``### `prgym COMMAND` `` heading is checked: each flag it names is in that command's ``--help`` output, and each
option of the command is named in the table (by its name or its ``--no-`` twin).
"""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from docs_blocks import DOC_FILES, OptionTable, option_tables
from typer.testing import CliRunner

from harness.cli import app

TABLES = [table for name in DOC_FILES for table in option_tables(name)]


def _command(path: tuple[str, ...]) -> Any:
    """The click command behind ``prgym PATH`` (typer may bring its own click: duck-typed, not isinstance)."""
    command = typer.main.get_command(app)
    for name in path:
        assert name in getattr(command, "commands", {}), f"prgym {' '.join(path)}: no sub-command {name!r}"
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def _long_options(command: Any) -> list[tuple[str, ...]]:
    """Each visible option of ``command`` as its long names (``("--progress", "--no-progress")``)."""
    return [
        tuple(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
        for param in command.params
        if param.param_type_name == "option"
        and not getattr(param, "hidden", False)
        and "--help" not in param.opts
    ]


def test_the_docs_have_the_option_tables_this_test_reads() -> None:
    assert {t.command for t in TABLES} >= {("run",), ("rollout",)}, TABLES
    assert all(t.options for t in TABLES)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: f"{t.file}:prgym {' '.join(t.command)}")
def test_every_documented_option_is_in_help_and_every_option_is_documented(table: OptionTable) -> None:
    name = " ".join(table.command)
    result = CliRunner().invoke(app, [*table.command, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    help_words = set(result.output.replace("│", " ").split())
    missing_from_help = [o for o in table.options if o not in help_words]
    assert not missing_from_help, (
        f"{table.file} documents for prgym {name}: {missing_from_help}, not in --help"
    )
    documented = set(table.options)
    undocumented = [names for names in _long_options(_command(table.command)) if not documented & set(names)]
    assert not undocumented, f"prgym {name} --help has {undocumented}, missing from the table in {table.file}"
