"""Fusion arithmetic on hand-checked rankings, and the property that makes hybrid pages consistent."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.catalog.dense.config import DenseSearchConfig, FusionMethod
from sandbox.catalog.dense.fusion import fuse, rrf, weighted


def test_rrf_scores_and_tie_break_by_ordinal() -> None:
    scores, ords = rrf(np.array([5, 3, 9]), np.array([3, 7, 5]), k=10)
    expected = {5: 1 / 11 + 1 / 13, 3: 1 / 12 + 1 / 11, 9: 1 / 13, 7: 1 / 12}
    assert ords.tolist() == [3, 5, 7, 9]  # 3 and 5 lead; 7 (1/12) beats 9 (1/13)
    np.testing.assert_allclose(scores, [expected[o] for o in ords.tolist()])
    # Exact ties go to the lower ordinal.
    _, tied = rrf(np.array([8]), np.array([2]), k=60)
    assert tied.tolist() == [2, 8]


def test_rrf_weights() -> None:
    _, ords = rrf(np.array([1]), np.array([2]), k=60, lexical_weight=2.0, dense_weight=1.0)
    assert ords.tolist() == [1, 2]
    _, ords = rrf(np.array([1]), np.array([2]), k=60, lexical_weight=0.5, dense_weight=1.0)
    assert ords.tolist() == [2, 1]


def test_weighted_fills_missing_cosines_and_normalizes_bm25() -> None:
    asked: list[list[int]] = []

    def cosine(ords: np.ndarray) -> np.ndarray:
        asked.append(ords.tolist())
        return np.array([0.2 * o for o in ords.tolist()])

    scores, ords = weighted(
        np.array([4, 2]),
        np.array([10.0, 5.0]),
        np.array([2, 6]),
        np.array([0.9, 0.8]),
        cosine,
        dense_weight=0.5,
    )
    assert asked == [[4]]  # only the BM25-only candidate needs its cosine computed
    got = dict(zip(ords.tolist(), scores.tolist(), strict=True))
    assert got == pytest.approx({2: 0.5 * 0.9 + 0.5 * 0.5, 4: 0.5 * 0.8 + 0.5 * 1.0, 6: 0.5 * 0.8})
    assert ords.tolist() == [4, 2, 6]


def test_weighted_without_lexical_hits_is_dense_order() -> None:
    scores, ords = weighted(
        np.empty(0, dtype=np.int64),
        np.empty(0),
        np.array([3, 1]),
        np.array([0.5, 0.5]),
        lambda o: o,
        dense_weight=0.7,
    )
    assert ords.tolist() == [1, 3] and scores.tolist() == pytest.approx([0.35, 0.35])


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(list(FusionMethod)),
    depth=st.integers(1, 30),
    need=st.integers(1, 60),
)
def test_fused_head_does_not_depend_on_how_deep_the_dense_list_is_read(seed, method, depth, need) -> None:
    """What hybrid paging relies on: reading the dense list deeper never reorders the first ``need`` results."""
    rng = np.random.default_rng(seed)
    n = 120
    cos = np.round(rng.uniform(-0.2, 1.0, n), 2)  # rounded: plenty of exact ties
    dense_order = np.lexsort((np.arange(n), -cos))
    lexical = rng.choice(n, size=min(depth, n), replace=False)
    bm25 = np.sort(np.round(rng.uniform(0.5, 20, len(lexical)), 1))[::-1]
    config = DenseSearchConfig(fusion=method, depth=depth, rrf_k=5, dense_weight=0.6)

    def run(m: int) -> list[int]:
        dense = dense_order[:m]
        _, ords = fuse(config, lexical, bm25, dense, cos[dense], lambda o: cos[o])
        return ords[:need].tolist()

    shallow = run(min(n, need + depth))
    assert shallow == run(n)  # reading everything gives the same head
