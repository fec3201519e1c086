"""Corrupted snapshots (issue 14, item 10): every corruption is one ``SnapshotError`` naming the file and the fix,
never a raw sqlite3 / tantivy / JSON / pydantic error; ``prgym catalog verify`` lists every problem, one per line,
and exits 2; a damaged record met during an episode is the server's internal error, not the agent's arguments."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalog_loader.build import write_snapshot
from harness.cli import app
from sandbox.catalog import integrity
from sandbox.catalog.errors import DamagedSnapshotError, SnapshotError
from sandbox.catalog.lexical import TantivyBackend
from sandbox.catalog.product import Product
from sandbox.catalog.search import SearchRequest
from sandbox.catalog.snapshot import Snapshot

runner = CliRunner()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    products = [
        Product(
            product_id=f"t:{i:04d}",
            source="t",
            title=f"Widget {i} {'cable' if i % 3 else 'charger'}",
            brand=("Acme", "Beta", "Gamma")[i % 3],
            price=Decimal(5 + i % 40),
            currency="USD",
            rating=(i % 50) / 10,
            description="A sturdy widget. " * 20,
        )
        for i in range(600)
    ]
    out = tmp_path_factory.mktemp("snap") / "pristine"
    write_snapshot(iter(products), out)
    return out


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "snap"
    shutil.copytree(pristine, target)
    return target


def _segment(snapshot: Path, suffix: str) -> Path:
    return next(p for p in (snapshot / "lexical").iterdir() if p.suffix == suffix)


def _truncate(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def _flip(path: Path, at: float, count: int = 64) -> None:
    data = bytearray(path.read_bytes())
    start = int(len(data) * at)
    for k in range(start, min(start + count, len(data))):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))


def _manifest(snapshot: Path, edit: Callable[[dict], object]) -> None:
    path = snapshot / "manifest.json"
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw, indent=2))


def _sql(snapshot: Path, script: str) -> None:
    db = sqlite3.connect(snapshot / "products.sqlite")
    db.executescript(script)
    db.commit()
    db.close()


def _strip_checksums(snapshot: Path) -> None:
    """What a snapshot built before checksums were recorded looks like."""
    _manifest(snapshot, lambda m: (m.pop("files"), m.pop("seal")))


# corruption -> (how, the file the error must name)
CORRUPTIONS: dict[str, tuple[Callable[[Path], object], str]] = {
    "store truncated": (lambda d: _truncate(d / "products.sqlite", 0.5), "products.sqlite"),
    "store emptied": (lambda d: _truncate(d / "products.sqlite", 0), "products.sqlite"),
    "store missing": (lambda d: (d / "products.sqlite").unlink(), "products.sqlite"),
    "store bytes flipped": (lambda d: _flip(d / "products.sqlite", 0.6, 4096), "products.sqlite"),
    "store header flipped": (lambda d: _flip(d / "products.sqlite", 0, 16), "products.sqlite"),
    "record not json": (
        lambda d: _sql(d, "UPDATE products SET doc = substr(doc, 1, length(doc) - 2) WHERE ord = 3"),
        "products.sqlite",
    ),
    "record breaks the schema": (
        lambda d: _sql(d, "UPDATE products SET doc = json_set(doc, '$.rating', 99) WHERE ord = 3"),
        "products.sqlite",
    ),
    "table dropped": (lambda d: _sql(d, "DROP TABLE products"), "products.sqlite"),
    "row added": (
        lambda d: _sql(
            d, 'INSERT INTO products VALUES (9999, \'z:1\', \'{"product_id":"z:1","title":"x"}\')'
        ),
        "products.sqlite",
    ),
    "lexical dir missing": (lambda d: shutil.rmtree(d / "lexical"), "lexical"),
    "lexical meta missing": (lambda d: (d / "lexical" / "meta.json").unlink(), "meta.json"),
    "lexical meta garbage": (lambda d: (d / "lexical" / "meta.json").write_text("{garbage"), "meta.json"),
    "segment truncated": (lambda d: _truncate(_segment(d, ".idx"), 0.5), ".idx"),
    "segment missing": (lambda d: _segment(d, ".store").unlink(), ".store"),
    "segment bytes flipped": (lambda d: _flip(_segment(d, ".idx"), 0.5, 256), ".idx"),
    "term dictionary flipped": (lambda d: _flip(_segment(d, ".term"), 0.3, 256), ".term"),
    "manifest missing": (lambda d: (d / "manifest.json").unlink(), "manifest.json"),
    "manifest cut": (lambda d: _truncate(d / "manifest.json", 0.5), "manifest.json"),
    "manifest not an object": (lambda d: (d / "manifest.json").write_text("[1]"), "manifest.json"),
    "manifest binary": (lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe\x00junk"), "manifest.json"),
    "snapshot_id edited": (
        lambda d: _manifest(d, lambda m: m.__setitem__("snapshot_id", "cat-00000000000000000000")),
        "manifest.json",
    ),
    "n_products edited": (
        lambda d: _manifest(d, lambda m: m.__setitem__("n_products", m["n_products"] + 1)),
        "manifest.json",
    ),
    "counts edited": (lambda d: _manifest(d, lambda m: m.__setitem__("lexical", {})), "manifest.json"),
    "field removed": (lambda d: _manifest(d, lambda m: m.pop("snapshot_id")), "manifest.json"),
    "file table edited": (
        lambda d: _manifest(d, lambda m: m["files"]["products.sqlite"].__setitem__("size", 1)),
        "manifest.json",
    ),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_every_corruption_is_one_snapshot_error_naming_the_file(name: str, copy: Path) -> None:
    corrupt, file = CORRUPTIONS[name]
    corrupt(copy)
    with pytest.raises(SnapshotError) as info:
        backend = TantivyBackend(copy)
        backend.search(SearchRequest(query="widget"))
        backend.get_products([f"t:{i:04d}" for i in range(10)])
    message = info.value.one_line()
    assert file in message and "rebuild" in message.lower(), message


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_verify_lists_each_problem_on_one_line_and_exits_2(name: str, copy: Path) -> None:
    corrupt, file = CORRUPTIONS[name]
    corrupt(copy)
    result = runner.invoke(app, ["catalog", "verify", "--catalog", str(copy)])
    assert result.exit_code == 2, result.output
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem: ")]
    assert problems and any(file in line for line in problems), result.stdout
    as_json = runner.invoke(app, ["catalog", "verify", "--catalog", str(copy), "--json"])
    assert as_json.exit_code == 2
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and all({"file", "problem"} <= set(p) for p in report["problems"])
    assert all("\n" not in p["problem"] for p in report["problems"])


def test_a_sound_snapshot_verifies(copy: Path) -> None:
    result = runner.invoke(app, ["catalog", "verify", "--catalog", str(copy), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["problems"] == [] and report["products_checked"] == 600
    manifest = json.loads((copy / "manifest.json").read_text())
    assert report["files_checked"] == len(manifest["files"]) and "products.sqlite" in manifest["files"]
    assert report["bytes_hashed"] == sum(f["size"] for f in manifest["files"].values())
    assert not any(name.endswith(".lock") for name in manifest["files"])


def test_open_checks_sizes_always_and_hashes_within_the_budget(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the byte budget a same-size edit is only found by verify (documented); a size change always is."""
    _flip(copy / "products.sqlite", 0.99, 16)  # the tail of the store: the products still read
    monkeypatch.setattr(integrity, "OPEN_HASH_BUDGET_BYTES", 0)
    Snapshot(copy)
    monkeypatch.setattr(integrity, "OPEN_HASH_BUDGET_BYTES", 1 << 30)
    integrity._checked.clear()
    with pytest.raises(DamagedSnapshotError, match="products.sqlite: content changed"):
        Snapshot(copy)
    monkeypatch.setenv(integrity.HASH_BUDGET_ENV, "0")  # the operator's override: sizes only
    Snapshot(copy)
    monkeypatch.setenv(integrity.HASH_BUDGET_ENV, "lots")
    integrity._checked.clear()
    with pytest.raises(SnapshotError.__mro__[1], match="PRGYM_SNAPSHOT_HASH_MB='lots' is not a number"):
        Snapshot(copy)


def test_a_file_changed_after_a_good_open_is_caught_at_the_next_open(copy: Path) -> None:
    Snapshot(copy)  # checked and remembered for this process
    Snapshot(copy)
    _flip(_segment(copy, ".term"), 0.5, 32)  # rewriting the file changes its mtime: checked again
    with pytest.raises(DamagedSnapshotError, match=r"\.term: content changed"):
        Snapshot(copy)


def test_old_snapshots_without_checksums_still_open_and_verify_recomputes_the_id(copy: Path) -> None:
    _strip_checksums(copy)
    assert len(Snapshot(copy)) == 600
    result = runner.invoke(app, ["catalog", "verify", "--catalog", str(copy)])
    assert result.exit_code == 0 and "warning: no file checksums recorded" in result.stdout
    _manifest(copy, lambda m: m.__setitem__("snapshot_id", "cat-00000000000000000000"))
    Snapshot(copy)  # nothing at open can tell without a seal...
    result = runner.invoke(app, ["catalog", "verify", "--catalog", str(copy)])
    assert result.exit_code == 2 and "does not match the stored products" in result.stdout  # ...verify can


def test_damaged_records_in_an_old_snapshot_are_snapshot_errors_when_read(copy: Path) -> None:
    _strip_checksums(copy)
    _sql(copy, "UPDATE products SET doc = json_set(doc, '$.rating', 99) WHERE ord = 3")
    store = Snapshot(copy).store
    with pytest.raises(DamagedSnapshotError, match=r"products.sqlite: the stored record of 't:0003'.*rating"):
        store.get(["t:0003"])
    with pytest.raises(DamagedSnapshotError):
        list(store.iter_products())
    assert store.get(["t:0004"])[0] is not None


def test_a_damaged_record_in_an_episode_is_an_internal_error_not_the_agents(
    small_snapshot: Path, tmp_path: Path
) -> None:
    from sandbox.env import ProductResearchEnv

    snap = tmp_path / "small"
    shutil.copytree(small_snapshot, snap)
    _strip_checksums(snap)  # open cannot see it: the damage is met by a tool call
    victim = Snapshot(snap).store.id_at([5])[0]
    db = sqlite3.connect(snap / "products.sqlite")
    db.execute("UPDATE products SET doc = substr(doc, 1, 40) WHERE ord = 5")
    db.commit()
    db.close()
    env = ProductResearchEnv(snap, max_steps=50)
    try:
        env.reset(seed=0)
        call = {"name": "visit_product", "arguments": {"product_ids": [victim]}}
        obs, _, _, _, info = env.step({"tool_calls": [call]})
        text = json.dumps(obs) if not isinstance(obs, str) else obs
        assert "catalog snapshot is damaged" in text and "not the cause" in text
        assert "invalid_arguments" not in text
        assert info.get("internal_errors", 0) >= 1 or "internal" in json.dumps(info)
    finally:
        env.close()


@pytest.mark.parametrize("damage", ["substr(doc, 1, 40)", "'{\"product_id\": 5}'"])
def test_reset_over_damaged_records_is_a_snapshot_error_not_a_validation_error(
    small_snapshot: Path, tmp_path: Path, damage: str
) -> None:
    """Item 10: ``reset`` used to fail with a raw pydantic ``ValidationError`` when the task it drew met a bad row."""
    from pydantic import ValidationError

    from sandbox.env import ProductResearchEnv

    snap = tmp_path / "small"
    shutil.copytree(small_snapshot, snap)
    _strip_checksums(snap)  # open cannot see it: the damage is met when reset draws a task
    db = sqlite3.connect(snap / "products.sqlite")
    db.execute(f"UPDATE products SET doc = {damage}")
    db.commit()
    db.close()
    env = ProductResearchEnv(snap, max_steps=50)
    try:
        with pytest.raises(SnapshotError) as info:
            env.reset(seed=0)
        assert not isinstance(info.value, ValidationError)
        message = info.value.one_line()
        assert "products.sqlite" in message and "rebuild" in message and "\n" not in message
    finally:
        env.close()
