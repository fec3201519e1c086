"""User mistakes anywhere in the CLI are one line on stderr with exit code 2; ``--debug`` shows the traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError
from typer.testing import CliRunner

from catalog_loader.datasets import UnknownDatasetError
from harness.cli import app
from harness.cli.errors import describe_validation_error
from sandbox.catalog.errors import NotASnapshotError
from sandbox.errors import UserError

runner = CliRunner()


def _one_line_error(args: list[str], *needles: str) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "200", "PRGYM_DEBUG": ""})
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["stats", "search", "show"])
def test_catalog_commands_on_missing_or_foreign_folder(command: str, tmp_path: Path) -> None:
    extra = {"search": ["tv"], "show": ["bestbuy:1"], "stats": []}[command]
    _one_line_error(
        ["catalog", command, "--catalog", str(tmp_path / "nope"), *extra], "does not exist", "catalog build"
    )
    _one_line_error(["catalog", command, "--catalog", str(tmp_path), *extra], "not a catalog snapshot")
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    _one_line_error(["catalog", command, "--catalog", str(tmp_path), *extra], "unreadable", "rebuild")


def test_unknown_preset_names_the_bad_one_and_the_valid_ones(tmp_path: Path) -> None:
    line = _one_line_error(
        ["catalog", "build", "--preset", "bestbuy", "--preset", "bestbuyy", "--out", str(tmp_path / "s")],
        "'bestbuyy'",
        "valid presets:",
        "webmall",
    )
    assert "'bestbuy'," not in line
    assert not (tmp_path / "s").exists()


def test_spec_errors_are_one_line(tmp_path: Path) -> None:
    _one_line_error(["catalog", "build", "--spec", str(tmp_path / "x.toml"), "--out", str(tmp_path / "s")])
    spec = tmp_path / "bad.toml"
    spec.write_text('[[sources]]\nname = "x"\npath = "nowhere.csv"\nbogus_option = 1\n', encoding="utf-8")
    _one_line_error(["catalog", "build", "--spec", str(spec), "--out", str(tmp_path / "s")], str(spec.name))


def test_bad_filter_values_are_sentences(small_snapshot: Path) -> None:
    _one_line_error(
        ["catalog", "search", "--catalog", str(small_snapshot), "tv", "--min-rating", "9"],
        "invalid search: min_rating must be less than or equal to 5 (got 9.0)",
    )
    _one_line_error(
        [
            "catalog",
            "search",
            "--catalog",
            str(small_snapshot),
            "tv",
            "--price-min",
            "50",
            "--price-max",
            "10",
        ],
        "price_min (50.0) must not exceed price_max (10.0)",
    )


def test_missing_dense_index_is_one_line(small_snapshot: Path) -> None:
    _one_line_error(
        ["catalog", "search", "--catalog", str(small_snapshot), "tv", "--mode", "hybrid"],
        "has no dense index",
        "--mode lexical",
    )


def test_unknown_product_is_a_user_error(small_snapshot: Path) -> None:
    _one_line_error(
        ["catalog", "show", "--catalog", str(small_snapshot), "bestbuy:nope"], "no product 'bestbuy:nope'"
    )


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "catalog", "stats", "--catalog", str(tmp_path)])
    assert isinstance(result.exception, NotASnapshotError)
    assert result.exit_code != 2


def test_describe_validation_error_is_one_sentence() -> None:
    class Model(BaseModel):
        count: int = Field(ge=1)
        name: str

    with pytest.raises(ValidationError) as info:
        Model(count=0)
    text = describe_validation_error(info.value, "settings")
    assert text == "invalid settings: count must be greater than or equal to 1 (got 0); name field required"


def test_user_error_text_and_key_error_subclasses() -> None:
    assert str(UserError("bad thing", hint="do this")) == "bad thing; do this"
    # KeyError would quote its message; the registry's error must read as the sentence it is.
    assert str(UnknownDatasetError("unknown dataset 'x'")) == "unknown dataset 'x'"
    assert isinstance(UnknownDatasetError("x"), KeyError)


def test_debug_flag_does_not_leak_into_later_invocations(monkeypatch) -> None:
    """``prgym --debug`` sets PRGYM_DEBUG for its own command only; the next in-process call gets one line again."""
    import os

    from typer.testing import CliRunner

    from harness.cli import app

    monkeypatch.delenv("PRGYM_DEBUG", raising=False)
    runner = CliRunner()
    runner.invoke(app, ["--debug", "catalog", "stats", "--catalog", "/nonexistent/snapshot"])
    assert "PRGYM_DEBUG" not in os.environ
    result = runner.invoke(app, ["catalog", "stats", "--catalog", "/nonexistent/snapshot"])
    assert result.exit_code == 2
