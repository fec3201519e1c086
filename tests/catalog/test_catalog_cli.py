"""`prgym catalog` end to end through the real CLI: build from presets, search with filters, show, stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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
    assert result.exit_code == 2 and "no product" in result.output

    result = runner.invoke(app, ["catalog", "stats", str(out)])
    assert result.exit_code == 0 and "4,399 products" in result.output


def test_search_rejects_bad_filter_values(shared_data: Path, small_snapshot: Path) -> None:
    result = runner.invoke(
        app, ["catalog", "search", str(small_snapshot), "x", "--price-min", "10", "--price-max", "5"]
    )
    assert result.exit_code == 2
    assert "price_min" in result.output


def test_dense_rebuild_through_the_cli_encodes_nothing_again(
    shared_data: Path, tmp_path: Path, monkeypatch
) -> None:
    """`catalog build --dense` replaces the snapshot directory, yet keeps the embeddings of unchanged products."""
    pytest.importorskip("sentence_transformers", reason="needs the dense extra")
    monkeypatch.setenv("PRGYM_DATA_DIR", str(shared_data))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "snap"
    args = ["catalog", "build", "-p", "webmall", "--out", str(out), "--no-progress", "--dense"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "encoded 1,108, reused 0" in " ".join(first.output.split())
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "encoded 0, reused 1,108" in " ".join(second.output.split())
    assert not (tmp_path / ".snap.dense-previous").exists()
    result = runner.invoke(
        app, ["catalog", "search", str(out), "silent keyboard", "--mode", "hybrid", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] > 0
