"""`prgym catalog` end to end through the real CLI: build from presets, search with filters, show, stats."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app

runner = CliRunner()


def test_build_search_show_stats(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PRGYM_DATA_DIR", str(shared_data))
    out = tmp_path / "snap"
    result = runner.invoke(
        app, ["catalog", "build", "-p", "bestbuy", "-p", "webmall", "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "bestbuy" in result.output and "3,291" in result.output and "1,108" in result.output

    result = runner.invoke(
        app, ["catalog", "search", str(out), "tv", "--price-max", "300", "--sort", "price_desc", "--json"]
    )
    assert result.exit_code == 0, result.output
    page = json.loads(result.output)
    assert page["total"] > 0 and len(page["hits"]) == 10
    scores = [h["score"] for h in page["hits"]]
    assert scores == sorted(scores, reverse=True) and max(scores) <= 300

    first = page["hits"][0]["product_id"]
    result = runner.invoke(app, ["catalog", "show", str(out), first])
    assert result.exit_code == 0 and json.loads(result.output)["product_id"] == first

    result = runner.invoke(app, ["catalog", "show", str(out), "bestbuy:does-not-exist"])
    assert result.exit_code == 1 and "no product" in result.output

    result = runner.invoke(app, ["catalog", "stats", str(out)])
    assert result.exit_code == 0 and "4,399 products" in result.output


def test_search_rejects_bad_filter_values(shared_data: Path, small_snapshot: Path) -> None:
    result = runner.invoke(
        app, ["catalog", "search", str(small_snapshot), "x", "--price-min", "10", "--price-max", "5"]
    )
    assert result.exit_code == 2
    assert "price_min" in result.output
