"""Fusing a BM25 ranking and an embedding ranking into one hybrid ranking.

Two methods, both deterministic (ties by ordinal = product id):

- **Reciprocal-rank fusion** ``sum_i w_i / (k + rank_i)``: uses ranks only, so it needs no score calibration;
  the constant ``k`` flattens the head (large k) or sharpens it (small k).
- **Weighted scores** ``w * cosine + (1 - w) * bm25 / max_bm25``: keeps how *much* better one product scores
  than the next, which ranks alone throw away. Cosine is already on a fixed [-1, 1] scale; BM25 is divided by
  the best BM25 of the query, putting the lexical top hit at 1. A candidate that only the BM25 list found gets
  its exact cosine (cheap: one dot product), so it is never penalized for missing from the dense top list; a
  candidate only the dense list found had BM25 below the lexical cut and counts as 0 there.

Paging needs one fixed order, whatever the page: every product's fused score must not depend on how deep the
lists were read. So the BM25 list always has the same depth ``D`` (``DenseSearchConfig.depth``), while the dense
list is read as deep as the page needs plus ``D`` (``M = need + D``). Weighted scores satisfy this as they are
(the cosine is exact for every candidate). RRF counts the dense rank of a BM25 candidate only within the top
``D``; every other product scores ``w_dense / (k + dense rank)``, so the dense tail continues the ranking below
the fused head. In both methods at least ``M - D`` candidates score at least as high as any product outside the
candidates, so the first ``need`` fused results are exact.

Measured on the Home Depot relevance labels, weighted fusion beats RRF at both recall@10 and recall@50 (see
``benchmarks/retrieval_quality.py`` and docs/dense.md); RRF is kept as the calibration-free alternative.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sandbox.catalog.dense.config import DenseSearchConfig, FusionMethod


def rrf(
    lexical_ords: np.ndarray,
    dense_ords: np.ndarray,
    *,
    k: float = 60.0,
    lexical_weight: float = 1.0,
    dense_weight: float = 1.0,
    depth: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal-rank fusion of two rankings (best first); returns (fused scores, ordinals) best first.

    ``depth``: the BM25 list's depth ``D`` (module docstring); ``None`` takes the length of ``lexical_ords``.
    """
    depth = len(lexical_ords) if depth is None else depth
    scores: dict[int, float] = {}
    for rank, ord_ in enumerate(lexical_ords.tolist(), start=1):
        scores[ord_] = lexical_weight / (k + rank)
    lexical = set(scores)
    for rank, ord_ in enumerate(dense_ords.tolist(), start=1):
        if rank <= depth or ord_ not in lexical:
            scores[ord_] = scores.get(ord_, 0.0) + dense_weight / (k + rank)
    return _ordered(scores)


def weighted(
    lexical_ords: np.ndarray,
    lexical_scores: np.ndarray,
    dense_ords: np.ndarray,
    dense_scores: np.ndarray,
    cosine: Callable[[np.ndarray], np.ndarray],
    *,
    dense_weight: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted-score fusion (module docstring); ``cosine(ords)`` scores candidates missing from the dense list."""
    lex_weight = 1.0 - dense_weight
    best = float(lexical_scores.max()) if len(lexical_scores) else 0.0
    lex_norm = lexical_scores / best if best > 0 else np.zeros_like(lexical_scores)
    scores: dict[int, float] = {}
    for ord_, cos in zip(dense_ords.tolist(), dense_scores.tolist(), strict=True):
        scores[ord_] = dense_weight * cos
    missing = np.asarray([o for o in lexical_ords.tolist() if o not in scores], dtype=np.int64)
    if len(missing):
        for ord_, cos in zip(missing.tolist(), cosine(missing).tolist(), strict=True):
            scores[ord_] = dense_weight * cos
    for ord_, value in zip(lexical_ords.tolist(), lex_norm.tolist(), strict=True):
        scores[ord_] += lex_weight * value
    return _ordered(scores)


def fuse(
    config: DenseSearchConfig,
    lexical_ords: np.ndarray,
    lexical_scores: np.ndarray,
    dense_ords: np.ndarray,
    dense_scores: np.ndarray,
    cosine: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Fuse with the method ``config`` names."""
    if config.fusion is FusionMethod.rrf:
        return rrf(
            lexical_ords,
            dense_ords,
            k=config.rrf_k,
            lexical_weight=config.rrf_lexical_weight,
            dense_weight=config.rrf_dense_weight,
            depth=config.depth,
        )
    return weighted(
        lexical_ords, lexical_scores, dense_ords, dense_scores, cosine, dense_weight=config.dense_weight
    )


Ranking = Callable[[int], tuple[np.ndarray, np.ndarray]]

# Non-relevance orders in dense/hybrid mode: (numeric column, descending). Unknown values sort last.
SORT_COLUMNS: dict[str, tuple[str, bool]] = {
    "price_asc": ("price", False),
    "price_desc": ("price", True),
    "rating": ("rating", True),
    "popularity": ("popularity", True),
}
MISSING_LOW = -1.0  # the score reported for an unknown value in a descending order (as the lexical backend)
MISSING_HIGH = 1e30  # ... and in an ascending one


def hybrid_ranking(
    config: DenseSearchConfig,
    limit: int,
    dense: Ranking,
    lexical: Ranking,
    cosine: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``limit`` (fused scores, ordinals) of a hybrid query: the one hybrid ranking every backend uses.

    ``dense(n)`` returns the top ``n`` (cosine scores, ordinals) of the products passing the filters, best first;
    ``lexical(n)`` the top ``n`` (BM25 scores, ordinals) under the same filters; ``cosine(ords)`` the exact cosine
    of the query to products. BM25 is read at the fixed depth ``config.depth`` and dense as deep as the page
    needs plus that depth, so fused scores do not depend on the page (module docstring). ``HybridBackend`` passes
    FAISS and tantivy, ``ElasticsearchBackend`` passes kNN and BM25 queries: both fuse identically.
    """
    dense_scores, dense_ords = dense(limit + config.depth)
    lexical_scores, lexical_ords = lexical(config.depth)
    scores, ords = fuse(
        config,
        np.asarray(lexical_ords, dtype=np.int64),
        np.asarray(lexical_scores, dtype=np.float64),
        np.asarray(dense_ords, dtype=np.int64),
        np.asarray(dense_scores, dtype=np.float64),
        lambda missing: np.asarray(cosine(missing), dtype=np.float64),
    )
    return scores[:limit], ords[:limit]


def sort_by_values(values: np.ndarray, ords: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Order ``ords`` by ``values`` (NaN = unknown, always last), ties by ordinal; returns (keys, ordinals).

    The keys are the values with unknowns replaced by the lexical backend's sentinels, reported as hit scores.
    """
    values = np.asarray(values, dtype=np.float64)
    ords = np.asarray(ords, dtype=np.int64)
    known = ~np.isnan(values)
    if descending:
        keys = np.where(known, values, MISSING_LOW)
        order = np.lexsort((ords, -keys))
    else:
        keys = np.where(known, values, MISSING_HIGH)
        order = np.lexsort((ords, keys))
    return keys[order], ords[order]


def _ordered(scores: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    ords = np.fromiter(scores.keys(), dtype=np.int64, count=len(scores))
    values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
    order = np.lexsort((ords, -values))
    return values[order], ords[order]
