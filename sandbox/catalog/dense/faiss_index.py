"""The FAISS vector index of a snapshot: exact or approximate inner-product search with exact filtering.

Vectors are L2-normalized, so inner product is cosine similarity. FAISS ids are product ordinals, and every result
list is ordered by (score descending, ordinal ascending): equal scores (identical titles embed identically) break
ties by product id, the same rule as every other backend. Because FAISS's own order among equal scores is not
that, :meth:`DenseIndex.search` fetches a margin past ``k`` and widens it until the tie group at the cut is whole.

Filtered search never returns a silent short list: a filter matching few products is scored exactly on exactly
those products; a broad filter goes through a FAISS ID selector (exact for the flat index); and if an approximate
index still returns fewer hits than the filter allows, the query falls back to exact scoring of the subset.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from pydantic import BaseModel, Field

from sandbox.catalog.dense.config import DenseConfig, IndexKind

INDEX_FILE = "index.faiss"
_SUBSET_CHUNK = 65_536


class IndexParams(BaseModel):
    """What was built, with every parameter that affects results (recorded in the snapshot manifest)."""

    kind: IndexKind
    metric: str = "inner_product"
    dtype: str = "float32"
    dimension: int
    count: int
    exact: bool
    hnsw_m: int | None = None
    hnsw_ef_construction: int | None = None
    hnsw_ef_search: int | None = None
    ivf_nlist: int | None = None
    ivf_nprobe: int | None = None
    ivf_train_size: int | None = None
    seed: int | None = None
    build_threads: int | None = None
    faiss_version: str = Field(default_factory=lambda: faiss.__version__)


def choose_kind(config: DenseConfig, count: int) -> IndexKind:
    """``auto`` resolves to exact search up to ``ann_threshold`` products and to HNSW above it."""
    if config.index is not IndexKind.auto:
        return config.index
    return IndexKind.flat if count <= config.ann_threshold else IndexKind.hnsw


def _storage_args(dtype: str) -> tuple[bool, Any]:
    if dtype == "float16":
        return True, faiss.ScalarQuantizer.QT_fp16
    return False, None


def build_index(vectors: np.ndarray, config: DenseConfig) -> tuple[Any, IndexParams]:
    """A FAISS index over ``vectors`` (row i = ordinal i), built as ``config`` says."""
    count, dim = vectors.shape
    kind = choose_kind(config, count)
    half, qtype = _storage_args(config.dtype)
    ip = faiss.METRIC_INNER_PRODUCT
    params = IndexParams(
        kind=kind, dtype=config.dtype, dimension=dim, count=count, exact=kind is IndexKind.flat
    )
    threads_before = faiss.omp_get_max_threads()
    if kind is not IndexKind.flat and config.build_threads is not None:
        faiss.omp_set_num_threads(config.build_threads)
    try:
        if kind is IndexKind.flat:
            index = faiss.IndexScalarQuantizer(dim, qtype, ip) if half else faiss.IndexFlatIP(dim)
        elif kind is IndexKind.hnsw:
            if half:
                index = faiss.IndexHNSWSQ(dim, qtype, config.hnsw_m, ip)
            else:
                index = faiss.IndexHNSWFlat(dim, config.hnsw_m, ip)
            index.hnsw.efConstruction = config.hnsw_ef_construction
            index.hnsw.efSearch = config.hnsw_ef_search
            params.hnsw_m = config.hnsw_m
            params.hnsw_ef_construction = config.hnsw_ef_construction
            params.hnsw_ef_search = config.hnsw_ef_search
            params.build_threads = config.build_threads
        else:
            nlist = config.ivf_nlist or max(1, min(count // 39, int(round(4 * math.sqrt(count)))))
            quantizer = faiss.IndexFlatIP(dim)
            if half:
                index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, qtype, ip)
            else:
                index = faiss.IndexIVFFlat(quantizer, dim, nlist, ip)
            index.cp.seed = config.seed
            train_size = min(count, nlist * 64)
            sample = np.random.default_rng(config.seed).choice(count, size=train_size, replace=False)
            index.train(np.ascontiguousarray(vectors[np.sort(sample)], dtype=np.float32))
            index.nprobe = min(config.ivf_nprobe, nlist)
            params.ivf_nlist = nlist
            params.ivf_nprobe = index.nprobe
            params.ivf_train_size = train_size
            params.seed = config.seed
            params.build_threads = config.build_threads
        if half and kind is IndexKind.flat:
            # fp16 needs no statistics; training on one vector only marks the index trained
            index.train(np.ascontiguousarray(vectors[:1], dtype=np.float32))
        for start in range(0, count, 100_000):
            index.add(np.ascontiguousarray(vectors[start : start + 100_000], dtype=np.float32))
        if kind is IndexKind.ivf:
            index.make_direct_map()  # lets exact subset scoring reconstruct vectors by ordinal
    finally:
        faiss.omp_set_num_threads(threads_before)
    return index, params


class DenseIndex:
    """A loaded index plus its recorded parameters; answers (optionally filtered) top-k queries."""

    def __init__(self, index: Any, params: IndexParams) -> None:
        if index.ntotal != params.count:
            raise ValueError(f"dense index holds {index.ntotal} vectors, manifest says {params.count}")
        self.index = index
        self.params = params
        self.count = int(index.ntotal)
        self.dimension = int(index.d)

    def save(self, directory: Path) -> Path:
        path = directory / INDEX_FILE
        tmp = directory / (INDEX_FILE + ".tmp")
        faiss.write_index(self.index, str(tmp))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, directory: Path, params: IndexParams) -> DenseIndex:
        path = directory / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"dense index file missing: {path}; rebuild with `prgym catalog build --dense`"
            )
        index = faiss.read_index(str(path))
        return cls(index, params)

    def set_search_params(self, *, hnsw_ef_search: int | None = None, ivf_nprobe: int | None = None) -> None:
        if hnsw_ef_search is not None and self.params.kind is IndexKind.hnsw:
            self.params.hnsw_ef_search = hnsw_ef_search
        if ivf_nprobe is not None and self.params.kind is IndexKind.ivf:
            self.params.ivf_nprobe = ivf_nprobe

    # -- scoring -------------------------------------------------------------------------------------------------

    def vectors(self, ords: np.ndarray) -> np.ndarray:
        """Stored vectors (float32) of the given ordinals."""
        ords = np.ascontiguousarray(ords, dtype=np.int64)
        if len(ords) == 0:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self.index.reconstruct_batch(ords)

    def score(self, query: np.ndarray, ords: np.ndarray) -> np.ndarray:
        """Exact cosine of ``query`` with the products at ``ords`` (e.g. BM25 candidates in hybrid fusion)."""
        return (self.vectors(ords) @ query).astype(np.float32)

    def _faiss_search(self, query: np.ndarray, k: int, selector: Any | None) -> tuple[np.ndarray, np.ndarray]:
        kind = self.params.kind
        if kind is IndexKind.hnsw:
            ef = max(self.params.hnsw_ef_search or 16, k)
            params: Any = faiss.SearchParametersHNSW(efSearch=ef)
        elif kind is IndexKind.ivf:
            params = faiss.SearchParametersIVF(nprobe=self.params.ivf_nprobe or 1)
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        scores, ids = self.index.search(query.reshape(1, -1), k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep].astype(np.int64)

    def _subset_search(self, query: np.ndarray, ords: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the given ordinals (scored in chunks, so memory stays bounded)."""
        best_scores = np.empty(0, dtype=np.float32)
        best_ords = np.empty(0, dtype=np.int64)
        for start in range(0, len(ords), _SUBSET_CHUNK):
            chunk = ords[start : start + _SUBSET_CHUNK]
            scores = self.score(query, chunk)
            best_scores = np.concatenate([best_scores, scores])
            best_ords = np.concatenate([best_ords, chunk])
            if len(best_scores) > k:
                keep = _top_by_score_then_ord(best_scores, best_ords, k)
                best_scores, best_ords = best_scores[keep], best_ords[keep]
        order = np.lexsort((best_ords, -best_scores))
        return best_scores[order][:k], best_ords[order][:k]

    def search(
        self, query: np.ndarray, k: int, mask: np.ndarray | None = None, *, exact_subset_max: int = 32_768
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ordinals) among products allowed by ``mask`` (all when ``None``).

        Ordered by score descending then ordinal ascending; returns ``min(k, allowed)`` hits whenever the index
        can rank them (always for exact search; approximate search falls back to exact scoring when short).
        """
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        allowed = self.count if mask is None else int(np.count_nonzero(mask))
        k = min(k, allowed)
        if k <= 0:
            return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)
        if mask is not None and allowed <= exact_subset_max:
            return self._subset_search(query, np.flatnonzero(mask), k)
        selector = None
        if mask is not None:
            bitmap = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(self.count, faiss.swig_ptr(bitmap))
        fetch = min(allowed, k + 16)
        while True:
            scores, ords = self._faiss_search(query, fetch, selector)
            if len(ords) < min(fetch, allowed):  # approximate search came up short: score the subset exactly
                subset = np.arange(self.count, dtype=np.int64) if mask is None else np.flatnonzero(mask)
                return self._subset_search(query, subset, k)
            order = np.lexsort((ords, -scores))
            scores, ords = scores[order], ords[order]
            # The tie group at position k-1 must be complete: if it reaches the end of what was fetched and more
            # products could exist, fetch more.
            if fetch >= allowed or scores[k - 1] > scores[-1]:
                return scores[:k], ords[:k]
            fetch = min(allowed, fetch * 2)


def _top_by_score_then_ord(scores: np.ndarray, ords: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best entries under (score desc, ord asc), without sorting everything."""
    if len(scores) <= k:
        return np.arange(len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    threshold = scores[part].min()
    # Everything strictly above the k-th score is in; among entries equal to it, the lowest ordinals are.
    above = np.flatnonzero(scores > threshold)
    tied = np.flatnonzero(scores == threshold)
    tied = tied[np.argsort(ords[tied], kind="stable")][: k - len(above)]
    return np.concatenate([above, tied])
