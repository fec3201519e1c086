"""Help texts show TOML table names literally (rich markup used to swallow ``[rewriter]``, ``[default]``,
``[judge]``)."""

from __future__ import annotations

from typer.testing import CliRunner

from harness.cli import app


def test_llm_config_help_names_its_tables() -> None:
    runner = CliRunner()
    distill = " ".join(runner.invoke(app, ["distill", "--help"], env={"COLUMNS": "200"}).output.split())
    judge = " ".join(runner.invoke(app, ["judge", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "a [rewriter] (or [default]) table" in distill
    assert "a [judge] table" in judge
