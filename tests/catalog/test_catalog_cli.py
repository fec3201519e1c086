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
        app,
        [
            "catalog",
            "build",
            "--preset",
            "bestbuy",
            "--preset",
            "webmall",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "bestbuy" in result.output and "3,291" in result.output and "1,108" in result.output

    result = runner.invoke(
        app,
        [
            "catalog",
            "search",
            "--catalog",
            str(out),
            "tv",
            "--price-max",
            "300",
            "--sort",
            "price_desc",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    page = json.loads(result.output)
    assert page["total"] > 0 and len(page["hits"]) == 10
    scores = [h["score"] for h in page["hits"]]
    assert scores == sorted(scores, reverse=True) and max(scores) <= 300

    first = page["hits"][0]["product_id"]
    result = runner.invoke(app, ["catalog", "show", "--catalog", str(out), first, "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["product_id"] == first

    result = runner.invoke(app, ["catalog", "show", "--catalog", str(out), "bestbuy:does-not-exist"])
    assert result.exit_code == 2 and "no product" in result.output

    result = runner.invoke(app, ["catalog", "stats", "--catalog", str(out)])
    assert result.exit_code == 0 and "4,399 products" in result.output


def test_search_rejects_bad_filter_values(shared_data: Path, small_snapshot: Path) -> None:
    result = runner.invoke(
        app,
        ["catalog", "search", "--catalog", str(small_snapshot), "x", "--price-min", "10", "--price-max", "5"],
    )
    assert result.exit_code == 2
    assert "price_min" in result.output


@pytest.mark.slow
def test_dense_rebuild_through_the_cli_encodes_nothing_again(
    shared_data: Path, tmp_path: Path, monkeypatch
) -> None:
    """`catalog build --dense` replaces the snapshot directory, yet keeps the embeddings of unchanged products."""
    pytest.importorskip("sentence_transformers", reason="needs the dense extra")
    monkeypatch.setenv("PRGYM_DATA_DIR", str(shared_data))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "snap"
    args = ["catalog", "build", "--preset", "webmall", "--out", str(out), "--no-progress", "--dense"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "encoded 1,108, reused 0" in " ".join(first.output.split())
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "encoded 0, reused 1,108" in " ".join(second.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]  # no staging, rejects or partial files

    # An interrupted rebuild leaves the previous snapshot, dense index included, as it was.
    import sandbox.catalog.dense as dense_package

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    manifest_before = (out / "manifest.json").read_text()
    monkeypatch.setattr(dense_package, "build_dense_index", interrupted)
    third = runner.invoke(app, args)
    assert third.exit_code == 2, third.output
    assert f"previous snapshot at {out} is unchanged" in " ".join(third.output.split())
    assert "run the same command again to resume" in third.output
    assert (out / "manifest.json").read_text() == manifest_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]
    result = runner.invoke(
        app, ["catalog", "search", "--catalog", str(out), "silent keyboard", "--mode", "hybrid", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] > 0


def test_build_refuses_to_replace_other_sources_without_force(
    shared_data: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("PRGYM_DATA_DIR", str(shared_data))
    out = tmp_path / "snap"
    build = ["catalog", "build", "--out", str(out), "--no-progress"]
    assert runner.invoke(app, [*build, "--preset", "webmall"]).exit_code == 0
    webmall_id = json.loads((out / "manifest.json").read_text())["snapshot_id"]

    refused = runner.invoke(app, [*build, "--preset", "bestbuy"])
    assert refused.exit_code == 2
    line = " ".join(refused.output.split())
    assert "built from webmall, not from bestbuy" in line and "--force" in line
    assert json.loads((out / "manifest.json").read_text())["snapshot_id"] == webmall_id

    assert runner.invoke(app, [*build, "--preset", "webmall"]).exit_code == 0  # same sources: a plain rebuild
    forced = runner.invoke(app, [*build, "--preset", "bestbuy", "--force"])
    assert forced.exit_code == 0, forced.output
    assert [s["source"] for s in json.loads((out / "manifest.json").read_text())["sources"]] == ["bestbuy"]

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    foreign = runner.invoke(
        app, ["catalog", "build", "--out", str(folder), "--no-progress", "--preset", "webmall", "--force"]
    )
    assert foreign.exit_code == 2 and "is not a catalog snapshot" in foreign.output
    assert (folder / "notes.txt").read_text() == "keep me"

    missing_out = runner.invoke(app, ["catalog", "build", "--preset", "webmall"])
    assert missing_out.exit_code == 2 and "--out" in missing_out.output


def test_failed_build_leaves_the_previous_snapshot_and_no_files(shared_data: Path, tmp_path: Path) -> None:
    from catalog_loader.build import build_snapshot
    from catalog_loader.presets import preset

    out = tmp_path / "snap"
    specs = preset("webmall", shared_data)
    first = build_snapshot(specs, out)

    def fail(staging: Path) -> None:
        assert (staging / "rejects.jsonl").is_file()  # rejects are written inside the staging folder
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_snapshot(preset("bestbuy", shared_data), out, before_publish=fail)
    assert json.loads((out / "manifest.json").read_text())["snapshot_id"] == first.manifest.snapshot_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]
