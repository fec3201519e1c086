"""An interrupted dense build keeps the vectors it encoded, and the next build starts from them."""

from __future__ import annotations

import numpy as np
import pytest

from sandbox.catalog.dense import DenseConfig, build_dense_index, product_text
from sandbox.catalog.dense import build as dense_build
from sandbox.catalog.dense.embedding_cache import EmbeddingCache
from sandbox.catalog.snapshot import Snapshot


class _StopAfter:
    """The real embedder, interrupted (as by Ctrl-C) once it has encoded ``chunks`` chunks."""

    def __init__(self, embedder, chunks: int) -> None:
        self._embedder = embedder
        self._left = chunks
        self.spec = embedder.spec

    def __getattr__(self, name):  # backend, cache_key, ...: the real embedder's
        return getattr(self._embedder, name)

    def encode(self, texts, *, progress=None):
        if self._left == 0:
            raise KeyboardInterrupt
        self._left -= 1
        return self._embedder.encode(texts, progress=progress)


def _kept(resume) -> int:
    """Vectors in the resume folder: one small cache per chunk saved as it was encoded."""
    parts = [EmbeddingCache.open(p) for p in sorted(resume.glob("part-*"))]
    assert all(p is not None for p in parts)
    return sum(len(p) for p in parts)


def test_interrupted_build_resumes_from_the_kept_vectors(
    sample_products, embedder, catalog_writer, dense_snapshot, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(dense_build, "RESUME_CHUNK", 100)
    directory = catalog_writer(sample_products, tmp_path / "catalog")
    resume = tmp_path / "catalog.dense-partial"
    with pytest.raises(KeyboardInterrupt):
        build_dense_index(
            directory, DenseConfig(), progress=False, embedder=_StopAfter(embedder, 2), resume_dir=resume
        )
    assert _kept(resume) == 200
    assert not (directory / "dense").exists()  # nothing half-built in the snapshot

    with pytest.raises(KeyboardInterrupt):  # a second interruption adds to what the first one kept
        build_dense_index(
            directory, DenseConfig(), progress=False, embedder=_StopAfter(embedder, 1), resume_dir=resume
        )
    assert _kept(resume) == 300

    before = embedder.texts_encoded
    manifest = build_dense_index(
        directory, DenseConfig(), progress=False, embedder=embedder, resume_dir=resume
    )
    distinct = len({product_text(p) for _, p in Snapshot(directory).store.iter_products()})
    assert manifest.texts_encoded == embedder.texts_encoded - before == distinct - 300
    assert not resume.exists()  # complete: the resume cache is gone
    # The resumed vectors are the ones an uninterrupted build makes.
    full = EmbeddingCache.open(dense_snapshot / "dense")
    mine = EmbeddingCache.open(directory / "dense")
    assert full is not None and mine is not None
    np.testing.assert_allclose(mine.rows(np.arange(len(mine))), full.rows(np.arange(len(full))), atol=1e-5)
