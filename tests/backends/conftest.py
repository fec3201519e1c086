"""One real snapshot, every backend: the fixtures behind the backend conformance suite.

The snapshot is the shared ``small_snapshot`` (~15k real products). HybridBackend needs a dense index; encoding
15k texts with the sentence encoder would cost minutes of CI, and the conformance suite tests the contract
(filters, orders, pages), not retrieval quality (``tests/dense`` covers the real model). So the dense index here
is built from a deterministic hashed bag-of-words embedder: real vectors through the real FAISS index, filter
columns and fusion code, in about a second. ``ElasticsearchBackend`` joins the parametrization only when
``PRGYM_ES_URL`` names a live cluster; it indexes the same snapshot (with the same vectors) first.
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest

from sandbox.catalog import Product
from sandbox.catalog.dense import Embedder, ModelSpec
from sandbox.catalog.snapshot import Snapshot

ES_URL_ENV = "PRGYM_ES_URL"
_WORD = re.compile(r"[^\W_]+")


class HashingEmbedder(Embedder):
    """Bag of lowercased words hashed into ``dimension`` buckets (signed), L2-normalized. No model, no torch.

    Deterministic across processes and machines (CRC32, not Python's salted ``hash``), so an Elasticsearch
    index built from these vectors in one run is searched with identical query vectors in the next.
    """

    def __init__(self, dimension: int = 64) -> None:
        super().__init__(ModelSpec(model_id=f"test:hashing-bow-{dimension}"))
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self._dimension, dtype=np.float32)
        for word in _WORD.findall(text.casefold()):
            h = zlib.crc32(word.encode())
            vector[h % self._dimension] += 1.0 if (h >> 16) & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0  # an empty text still gets a unit vector (cosine is defined for every product)
            return vector
        return vector / norm

    def encode(self, texts, *, progress=None, chunk: int = 1024) -> np.ndarray:
        out = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dimension))
        self.texts_encoded += len(texts)
        if progress is not None:
            progress(len(texts))
        return out.astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        vector = self._vector(text)
        vector.setflags(write=False)
        return vector


@pytest.fixture(scope="session")
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="session")
def conformance_snapshot(small_snapshot: Path, hashing_embedder, tmp_path_factory) -> Path:
    """A copy of the shared real snapshot with an exact dense index from the hashing embedder."""
    from sandbox.catalog.dense import DenseConfig, build_dense_index

    target = tmp_path_factory.mktemp("conformance") / "small-dense"
    shutil.copytree(small_snapshot, target, ignore=shutil.ignore_patterns("dense*"))
    build_dense_index(target, DenseConfig(index="flat"), progress=False, embedder=hashing_embedder)
    return target


@pytest.fixture(scope="session")
def products(conformance_snapshot: Path) -> list[Product]:
    """Every product of the snapshot, from the store: the oracle every backend is held to."""
    return [p for _, p in Snapshot(conformance_snapshot).store.iter_products()]


@pytest.fixture(scope="session")
def catalog(products: list[Product]) -> dict[str, Product]:
    return {p.product_id: p for p in products}


def _elasticsearch(snapshot: Path, embedder):
    url = os.environ.get(ES_URL_ENV)
    if not url:
        pytest.skip(f"no Elasticsearch cluster: set {ES_URL_ENV}=http://... to run the suite against one")
    from sandbox.catalog.elasticsearch import ElasticsearchBackend, EsSettings, push_snapshot

    settings = EsSettings.from_env(url)
    push_snapshot(snapshot, settings, progress=False)
    return ElasticsearchBackend(settings, snapshot_id=Snapshot(snapshot).snapshot_id, embedder=embedder)


BACKENDS = ("tantivy", "hybrid", "elasticsearch")
_OPENED: dict[str, object] = {}


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request, conformance_snapshot: Path, hashing_embedder):
    """Each backend over the same snapshot (opened once per session)."""
    name = request.param
    if name not in _OPENED:
        if name == "tantivy":
            from sandbox.catalog.lexical import TantivyBackend

            _OPENED[name] = TantivyBackend(conformance_snapshot)
        elif name == "hybrid":
            from sandbox.catalog.dense import HybridBackend

            _OPENED[name] = HybridBackend(conformance_snapshot, embedder=hashing_embedder)
        else:
            _OPENED[name] = _elasticsearch(conformance_snapshot, hashing_embedder)
    return _OPENED[name]
