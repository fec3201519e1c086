"""Snapshots: content-derived ids, reproducible builds, clear errors on incompatible or damaged snapshots."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from catalog_loader.build import build_snapshot, write_snapshot
from catalog_loader.presets import preset
from sandbox.catalog.product import Product
from sandbox.catalog.snapshot import MANIFEST_FILENAME, IncompatibleSnapshotError, Snapshot


def test_same_input_gives_same_snapshot_id(shared_data: Path, tmp_path: Path) -> None:
    specs = preset("bestbuy", shared_data) + preset("webmall", shared_data)
    first = build_snapshot(specs, tmp_path / "a")
    second = build_snapshot(list(reversed(specs)), tmp_path / "b")
    assert first.manifest.snapshot_id == second.manifest.snapshot_id
    assert first.manifest.n_products == second.manifest.n_products > 4000


def test_changed_product_changes_id(tmp_path: Path) -> None:
    products = [Product(product_id=f"t:{i}", title=f"thing {i}", source="t", price=i) for i in range(50)]
    id_a = write_snapshot(iter(products), tmp_path / "a")[0].snapshot_id
    products[7] = products[7].model_copy(update={"price": Decimal("999")})
    id_b = write_snapshot(iter(products), tmp_path / "b")[0].snapshot_id
    assert id_a != id_b


def test_store_random_access_and_ordinals(tmp_path: Path) -> None:
    products = [Product(product_id=f"t:{i:03d}", title=f"thing {i}", source="t") for i in reversed(range(30))]
    write_snapshot(iter(products), tmp_path / "s")
    store = Snapshot(tmp_path / "s").store
    assert store.product_ids() == sorted(p.product_id for p in products)
    assert store.id_at([0, 29]) == ["t:000", "t:029"]
    assert store.get(["t:017", "missing"])[0].title == "thing 17"
    assert store.get(["missing"]) == [None]
    assert [o for o, _ in store.iter_products()] == list(range(30))


def test_incompatible_format_is_refused_with_advice(tmp_path: Path) -> None:
    write_snapshot(iter([Product(product_id="t:1", title="x", source="t")]), tmp_path / "s")
    manifest_path = tmp_path / "s" / MANIFEST_FILENAME
    raw = json.loads(manifest_path.read_text())
    raw["format_version"] = 999
    manifest_path.write_text(json.dumps(raw))
    with pytest.raises(IncompatibleSnapshotError, match=r"format 999.*Rebuild it with `prgym catalog build`"):
        Snapshot(tmp_path / "s")


def test_not_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a catalog snapshot"):
        Snapshot(tmp_path)


def test_failed_build_leaves_previous_snapshot(tmp_path: Path) -> None:
    write_snapshot(iter([Product(product_id="t:1", title="x", source="t")]), tmp_path / "s")
    before = Snapshot(tmp_path / "s").snapshot_id

    def broken():
        yield Product(product_id="t:2", title="y", source="t")
        raise RuntimeError("source failed mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        write_snapshot(broken(), tmp_path / "s")
    assert Snapshot(tmp_path / "s").snapshot_id == before
    assert not (tmp_path / "s.building").exists()
    shutil.rmtree(tmp_path / "s")
