"""The embedding cache: an unchanged rebuild encodes nothing, a changed catalog encodes only what changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from sandbox.catalog.dense import DenseConfig, Embedder, build_dense_index, product_text, read_dense_manifest
from sandbox.catalog.dense.embedding_cache import EmbeddingCache, text_keys, write_cache
from sandbox.catalog.snapshot import Snapshot


def _vectors_by_id(snapshot_dir: Path) -> dict[str, np.ndarray]:
    ids = Snapshot(snapshot_dir).store.product_ids()
    cache = EmbeddingCache.open(snapshot_dir / "dense")
    assert cache is not None
    rows = cache.rows(np.arange(len(ids)))
    return dict(zip(ids, rows, strict=True))


def test_unchanged_rebuild_encodes_nothing_and_loads_no_model(dense_snapshot, tmp_path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dense_snapshot, copy)
    fresh = Embedder.from_model()  # never loaded unless something must be encoded
    manifest = build_dense_index(copy, DenseConfig(), progress=False, embedder=fresh)
    assert manifest.texts_encoded == 0 and manifest.encoded == 0
    assert manifest.reused == manifest.count == len(Snapshot(copy))
    assert fresh._model is None and fresh.texts_encoded == 0
    before, after = _vectors_by_id(dense_snapshot), _vectors_by_id(copy)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_changing_some_products_encodes_only_those(
    sample_products, dense_snapshot, embedder, catalog_writer, tmp_path
) -> None:
    products = list(sample_products)
    changed = {}
    for i in (5, 50, 150, 250):  # ~1% of the catalog: new titles
        products[i] = products[i].model_copy(
            update={"title": products[i].title + " (2024 model, refurbished)"}
        )
        changed[products[i].product_id] = products[i]
    # A description edit does not touch the embedded text, so it must not cost an encode.
    products[7] = products[7].model_copy(update={"description": "A different description."})
    products.append(products[9].model_copy(update={"product_id": products[9].product_id + "-new"}))

    rebuilt = catalog_writer(
        products, tmp_path / "rebuilt"
    )  # a fresh directory: the old snapshot is the cache
    before = embedder.texts_encoded
    manifest = build_dense_index(
        rebuilt, DenseConfig(), reuse_from=[dense_snapshot], progress=False, embedder=embedder
    )
    assert manifest.texts_encoded == len(changed) == embedder.texts_encoded - before
    assert manifest.encoded == len(changed)
    assert manifest.reused == len(products) - len(
        changed
    )  # the new product shares its text with a cached one

    old, new = _vectors_by_id(dense_snapshot), _vectors_by_id(rebuilt)
    for product_id, vector in new.items():
        if product_id in changed:
            text = product_text(changed[product_id])
            np.testing.assert_allclose(vector, embedder.encode([text])[0], atol=1e-5)
            assert not np.allclose(vector, old[product_id], atol=1e-3)
        elif product_id in old:
            assert np.array_equal(vector, old[product_id])
    assert read_dense_manifest(Snapshot(rebuilt)).reused == manifest.reused


def test_cache_lookup_and_model_key(tmp_path) -> None:
    texts = [f"product {i}" for i in range(50)]
    keys = text_keys("model-a", texts)
    vectors = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    write_cache(tmp_path, "model-a", keys, vectors, "float32")
    cache = EmbeddingCache.open(tmp_path)
    assert cache is not None and len(cache) == 50
    probe = text_keys("model-a", ["product 7", "unknown", "product 0"])
    rows = cache.lookup(probe)
    assert rows.tolist() == [7, -1, 0]
    np.testing.assert_array_equal(cache.rows(rows[[0, 2]]), vectors[[7, 0]])
    # Another model never hits: its keys differ, and the cache says it is not usable for it.
    assert (cache.lookup(text_keys("model-b", texts)) == -1).all()
    assert cache.usable_for("model-a", 8, "float32") and not cache.usable_for("model-b", 8, "float32")
    # float16 vectors are not widened into a float32 build.
    write_cache(tmp_path / "half", "model-a", keys, vectors, "float16")
    half = EmbeddingCache.open(tmp_path / "half")
    assert (
        half is not None
        and not half.usable_for("model-a", 8, "float32")
        and half.usable_for("model-a", 8, "float16")
    )


def test_unreadable_cache_is_ignored(tmp_path) -> None:
    (tmp_path / "cache.json").write_text("{not json", encoding="utf-8")
    assert EmbeddingCache.open(tmp_path) is None
    assert EmbeddingCache.open(tmp_path / "absent") is None
