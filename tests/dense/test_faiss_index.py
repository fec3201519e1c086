"""The FAISS index wrapper on seeded vectors: exact top-k with masks, tie order, ANN fallback, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.catalog.dense.config import DenseConfig, IndexKind
from sandbox.catalog.dense.faiss_index import DenseIndex, build_index, choose_kind


def _vectors(n: int, d: int = 32, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[n // 2 : n // 2 + 5] = x[3]  # five exact duplicates of row 3: tied scores
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _reference(
    x: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    scores = x @ q
    ords = np.arange(len(x)) if mask is None else np.flatnonzero(mask)
    order = np.lexsort((ords, -scores[ords]))[:k]
    return scores[ords][order], ords[order]


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return _vectors(3000)


@pytest.fixture(scope="module")
def flat(data) -> DenseIndex:
    index, params = build_index(data, DenseConfig(index=IndexKind.flat))
    return DenseIndex(index, params)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000), k=st.integers(1, 120), density=st.sampled_from([0.001, 0.01, 0.3, 0.9, 1.0])
)
def test_flat_search_is_exact_under_any_mask(flat, data, seed, k, density) -> None:
    rng = np.random.default_rng(seed)
    q = data[rng.integers(len(data))] + 0.1 * rng.standard_normal(data.shape[1]).astype(np.float32)
    mask = None if density == 1.0 else rng.random(len(data)) < density
    want_scores, want_ords = _reference(data, q, k, mask)
    for subset_max in (0, 1_000_000):  # the FAISS selector path and the exact-subset path
        scores, ords = flat.search(q, k, mask, exact_subset_max=subset_max)
        assert len(ords) == len(want_ords)  # min(k, allowed): never a short list
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)
        if mask is not None:
            assert mask[ords].all()


def test_ties_are_ordered_by_ordinal(flat, data) -> None:
    q = data[3]
    scores, ords = flat.search(q, 6)
    assert ords.tolist() == [3, *range(1500, 1505)]
    assert len(set(scores.tolist())) == 1
    # The tie group is cut by ordinal, not by FAISS's internal order.
    _, top2 = flat.search(q, 2)
    assert top2.tolist() == [3, 1500]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("kind", [IndexKind.hnsw, IndexKind.ivf])
def test_approximate_indexes_fill_every_page(data, dtype, kind, tmp_path) -> None:
    config = DenseConfig(index=kind, dtype=dtype, hnsw_m=8, hnsw_ef_search=16, ivf_nlist=32, ivf_nprobe=2)
    index, params = build_index(data, config)
    DenseIndex(index, params).save(tmp_path)
    loaded = DenseIndex.load(tmp_path, params)
    rng = np.random.default_rng(1)
    recall = []
    for _ in range(20):
        q = data[rng.integers(len(data))]
        sparse = rng.random(len(data)) < 0.02  # ~60 products: HNSW/IVF alone would come up short
        for mask in (None, sparse):
            scores, ords = loaded.search(q, 50, mask, exact_subset_max=0)
            assert len(ords) == (50 if mask is None else min(50, int(mask.sum())))
            if mask is not None:
                assert mask[ords].all()
            assert np.all(np.diff(scores) <= 1e-7)
            recall.append(
                len(set(ords.tolist()) & set(_reference(data, q, 50, mask)[1].tolist())) / len(ords)
            )
    assert (
        np.mean(recall) > 0.5
    )  # loose: these are deliberately weak parameters; the benchmark measures real ones
    assert params.exact is False and (params.hnsw_m == 8 or params.ivf_nlist == 32)


def test_auto_kind_switches_at_the_threshold() -> None:
    config = DenseConfig(ann_threshold=1000)
    assert choose_kind(config, 1000) is IndexKind.flat
    assert choose_kind(config, 1001) is IndexKind.hnsw
    assert choose_kind(DenseConfig(index=IndexKind.ivf), 10) is IndexKind.ivf


def test_hnsw_build_is_reproducible_single_threaded(data) -> None:
    config = DenseConfig(index=IndexKind.hnsw, hnsw_m=8, build_threads=1)
    a = DenseIndex(*build_index(data[:800], config))
    b = DenseIndex(*build_index(data[:800], config))
    for q in data[:20]:
        assert a.search(q, 10)[1].tolist() == b.search(q, 10)[1].tolist()
