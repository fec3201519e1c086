"""``HybridBackend``: one ``CatalogBackend`` serving lexical, dense and hybrid search over a snapshot.

- ``lexical`` requests go to the tantivy backend unchanged.
- ``dense`` requests rank every product that satisfies the filters by cosine similarity to the query embedding;
  ``total`` is the number of products that satisfy the filters (dense retrieval has no "no match").
- ``hybrid`` requests fuse the BM25 ranking and the dense ranking (see ``fusion``); ``total`` as in dense.

Filters mean in every mode what they mean in lexical mode: the dense side evaluates them on numpy filter columns
(``filter_columns``) and restricts the vector search to the matching products, so a filtered query still
returns a full page whenever enough products match. An empty query is a browse by filters in every mode and goes
to the lexical backend. Sorting by price / rating / popularity in dense or hybrid mode orders the
``sort_pool`` most relevant products by that key (otherwise the query would not matter at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sandbox.catalog.dense.config import DEFAULT_MODEL, DenseSearchConfig
from sandbox.catalog.dense.embedder import Embedder, ModelSpec, resolve_model
from sandbox.catalog.dense.encoders import carried_artifact
from sandbox.catalog.dense.faiss_index import DenseIndex
from sandbox.catalog.dense.filter_columns import FilterColumns
from sandbox.catalog.dense.fusion import SORT_COLUMNS, hybrid_ranking, sort_by_values
from sandbox.catalog.dense.manifest import (
    DENSE_DIRNAME,
    DenseIndexMissingError,
    DenseManifest,
    DenseModelMismatchError,
    check_backend,
    check_model,
    read_dense_manifest,
)
from sandbox.catalog.lexical import TantivyBackend
from sandbox.catalog.product import Product
from sandbox.catalog.search import (
    SearchFilters,
    SearchHit,
    SearchMode,
    SearchRequest,
    SearchResult,
    SortOrder,
)
from sandbox.catalog.snapshot import Snapshot
from sandbox.catalog.sorted_search import select_for_sort


class HybridBackend:
    """Lexical + dense + hybrid search over one snapshot (module docstring has the rules).

    ``model``: the embedding model to query with. ``None`` uses the model the snapshot was built with (found
    again by its recorded id or path, and checked by fingerprint); naming a different model fails with
    :class:`DenseModelMismatchError`. The model itself loads on the first dense query (or :meth:`warm_up`).
    ``require_dense=False`` opens a snapshot without a dense index too: lexical requests work and dense or hybrid
    ones raise :class:`DenseIndexMissingError` (never a silent fallback to BM25).
    """

    def __init__(
        self,
        snapshot: Snapshot | Path | str,
        *,
        model: str | ModelSpec | None = None,
        search_config: DenseSearchConfig | None = None,
        lexical: TantivyBackend | None = None,
        embedder: Embedder | None = None,
        require_dense: bool = True,
    ) -> None:
        self.snapshot = snapshot if isinstance(snapshot, Snapshot) else Snapshot(snapshot)
        self.snapshot_id = self.snapshot.snapshot_id
        self.lexical = lexical if lexical is not None else TantivyBackend(self.snapshot)
        self.config = search_config or DenseSearchConfig()
        self.product_ids = np.asarray(self.snapshot.store.product_ids(), dtype=str)
        self._missing: DenseIndexMissingError | None = None
        try:
            self.dense_manifest: DenseManifest = read_dense_manifest(self.snapshot)
        except DenseIndexMissingError as exc:
            if require_dense:
                raise
            self._missing = exc  # lexical search works; dense and hybrid requests raise this
            return
        if embedder is not None:
            wanted = embedder.spec
        elif isinstance(model, ModelSpec):
            wanted = model
        elif model is not None:
            wanted = resolve_model(model)
        else:
            wanted = _recorded_model(self.dense_manifest)
        check_model(self.snapshot, self.dense_manifest, wanted)
        recorded_backend = self.dense_manifest.backend
        query_backend = (
            embedder.backend if embedder is not None else self.config.query_backend or recorded_backend
        )
        explicit = embedder is not None or self.config.query_backend is not None
        if query_backend is not recorded_backend:  # by name first, before any encoder is derived or loaded
            check_backend(self.snapshot, self.dense_manifest, query_backend, None, explicit=explicit)
        directory = self.snapshot.dir / DENSE_DIRNAME
        self.index = DenseIndex.load(directory, self.dense_manifest.index.model_copy())
        self.index.set_search_params(
            hnsw_ef_search=self.config.hnsw_ef_search, ivf_nprobe=self.config.ivf_nprobe
        )
        self.columns = FilterColumns.load(directory)
        if len(self.columns) != len(self.snapshot) or self.index.count != len(self.snapshot):
            raise DenseIndexMissingError(
                f"snapshot {self.snapshot.dir}: dense files hold {self.index.count} vectors and "
                f"{len(self.columns)} filter rows for {len(self.snapshot)} products; rebuild the dense index"
            )
        carried = (
            carried_artifact(directory, self.dense_manifest.backend_fingerprint)
            if embedder is None and query_backend is recorded_backend
            else None
        )
        self.embedder = embedder or Embedder(
            wanted, query_cache_size=self.config.query_cache_size, backend=query_backend, artifact=carried
        )
        if query_backend is recorded_backend:  # the derived encoder must be the one the index was built with
            check_backend(
                self.snapshot,
                self.dense_manifest,
                query_backend,
                self.embedder.backend_fingerprint,
                explicit=explicit,
            )

    # -- CatalogBackend -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.snapshot)

    def get_products(self, product_ids: Sequence[str]) -> list[Product | None]:
        return self.lexical.get_products(product_ids)

    @property
    def has_dense(self) -> bool:
        return self._missing is None

    @property
    def supported_modes(self) -> frozenset[SearchMode]:
        """The modes this snapshot can answer (the env's ``product_search`` offers exactly these)."""
        if self.has_dense:
            return frozenset(SearchMode)
        return frozenset({SearchMode.lexical})

    def search(self, request: SearchRequest) -> SearchResult:
        if (
            request.mode is SearchMode.lexical
            or not request.query.strip()
            or self.lexical.has_no_terms(request.query)
        ):
            return self.lexical.search(request)
        if self._missing is not None:
            raise self._missing
        need = request.offset + request.page_size
        mask = self.columns.mask(request.filters)
        allowed = len(self) if mask is None else int(np.count_nonzero(mask))
        if request.sort is SortOrder.relevance:
            scores, ords = self.ranked_ords(request.query, request.filters, request.mode, need, mask=mask)
            total = allowed
        else:
            # Only the relevant matches sort (the rule shared by every backend: sandbox.catalog.sorted_search).
            pool = min(self.config.sort_pool, allowed)
            relevance, ords = self.ranked_ords(request.query, request.filters, request.mode, pool, mask=mask)
            policy = self.lexical.sorted_policy
            strict = self.lexical.all_terms_ords(request.query, request.filters, policy.pool)
            keep = select_for_sort(
                relevance.tolist(), [o in strict for o in ords.tolist()], policy, request.mode
            )
            scores, ords = self._sorted_by(request.sort, ords[np.asarray(keep, dtype=np.int64)])
            total = len(ords)
        page_ords = ords[request.offset : need]
        ids = self.product_ids[page_ords].tolist()
        hits = [
            SearchHit(product_id=pid, score=float(s))
            for pid, s in zip(ids, scores[request.offset : need].tolist(), strict=True)
        ]
        return SearchResult(hits=hits, total=total, page=request.page, page_size=request.page_size)

    # -- ranking --------------------------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the model now (it otherwise loads on the first dense query) and check its dimension."""
        vector = self.embedder.encode_query("warm up")
        if vector.shape[0] != self.dense_manifest.dimension:
            raise DenseModelMismatchError(
                f"model {self.embedder.spec.model_id!r} makes {vector.shape[0]}-dimensional vectors; snapshot "
                f"{self.snapshot.dir} holds {self.dense_manifest.dimension}-dimensional ones"
            )

    def query_vector(self, query: str) -> np.ndarray:
        vector = self.embedder.encode_query(query)
        if vector.shape[0] != self.index.dimension:
            self.warm_up()  # raises the dimension mismatch with its explanation
        return vector

    def ranked_ords(
        self,
        query: str,
        filters: SearchFilters,
        mode: SearchMode,
        limit: int,
        *,
        mask: np.ndarray | None | bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``limit`` (scores, ordinals) for ``mode`` (dense or hybrid), best first, ties by ordinal.

        ``mask`` is the precomputed filter mask (``False`` = compute it from ``filters``).
        """
        if self._missing is not None:
            raise self._missing
        if mask is False:
            mask = self.columns.mask(filters)
        assert mask is None or isinstance(mask, np.ndarray)
        vector = self.query_vector(query)
        if mode is SearchMode.dense:
            return self.index.search(vector, limit, mask, exact_subset_max=self.config.exact_subset_max)
        if mode is not SearchMode.hybrid:
            raise ValueError(f"ranked_ords: mode must be dense or hybrid, got {mode.value}")
        exact = self.config.exact_subset_max

        def lexical(depth: int) -> tuple[np.ndarray, np.ndarray]:
            hits, _ = self.lexical.ranked(query, filters, depth)
            return np.asarray([h.score for h in hits], dtype=np.float64), self._ords_of(
                [h.product_id for h in hits]
            )

        return hybrid_ranking(
            self.config,
            limit,
            lambda n: self.index.search(vector, n, mask, exact_subset_max=exact),
            lexical,
            lambda missing: self.index.score(vector, missing),
        )

    def ranked(
        self, text: str, filters: SearchFilters, limit: int, mode: SearchMode = SearchMode.hybrid
    ) -> tuple[list[SearchHit], int]:
        """Top ``limit`` hits of ``mode`` and the number of products passing the filters.

        The same shape as ``TantivyBackend.ranked``, so callers can treat both retrievers alike.
        """
        mask = self.columns.mask(filters) if self._missing is None else None
        if mode is SearchMode.lexical or not text.strip():
            return self.lexical.ranked(text, filters, limit)
        scores, ords = self.ranked_ords(text, filters, mode, limit, mask=mask)
        ids = self.product_ids[ords].tolist()
        total = len(self) if mask is None else int(np.count_nonzero(mask))
        return [
            SearchHit(product_id=p, score=float(s)) for p, s in zip(ids, scores.tolist(), strict=True)
        ], total

    def _ords_of(self, product_ids: list[str]) -> np.ndarray:
        """Ordinals of product ids (the id array is sorted: ordinal = position in ascending id order)."""
        if not product_ids:
            return np.empty(0, dtype=np.int64)
        wanted = np.asarray(product_ids, dtype=self.product_ids.dtype)
        ords = np.searchsorted(self.product_ids, wanted)
        ok = (ords < len(self.product_ids)) & (
            self.product_ids[np.minimum(ords, len(self.product_ids) - 1)] == wanted
        )
        if not ok.all():
            bad = [p for p, good in zip(product_ids, ok.tolist(), strict=True) if not good]
            raise KeyError(f"lexical index returned ids the snapshot does not hold: {bad[:3]}")
        return ords.astype(np.int64)

    def _sorted_by(self, sort: SortOrder, ords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Order ``ords`` by a product field (unknown values last, ties by ordinal), with the key as score."""
        column, descending = SORT_COLUMNS[sort.value]
        return sort_by_values(self.columns.sort_key(column)[ords], ords, descending)


def _recorded_model(manifest: DenseManifest) -> ModelSpec:
    """The model a snapshot was built with, found again on this machine (and verified by fingerprint later)."""
    recorded = manifest.model
    if recorded.model_id == DEFAULT_MODEL:
        return resolve_model(DEFAULT_MODEL)
    if recorded.path and Path(recorded.path).is_dir():
        spec = resolve_model(recorded.path)
        return ModelSpec(model_id=recorded.model_id, path=spec.path, fingerprint=spec.fingerprint)
    if recorded.path is None:
        return recorded
    raise DenseIndexMissingError(
        f"the dense index was built with {recorded.describe()} from {recorded.path}, which is not on this "
        "machine; open the snapshot with model=<path to that model>"
    )


def open_backend(
    snapshot_dir: Path | str,
    *,
    model: str | None = None,
    search_config: DenseSearchConfig | None = None,
) -> HybridBackend:
    """The backend for a snapshot, serving every mode its indexes allow.

    Without a dense index, lexical requests work and dense/hybrid requests raise ``DenseIndexMissingError``;
    naming a ``model`` for such a snapshot raises at once.
    """
    return HybridBackend(
        snapshot_dir, model=model, search_config=search_config, require_dense=model is not None
    )


def open_hybrid_backend(
    snapshot_dir: Path | str,
    *,
    model: str | None = None,
    search_config: DenseSearchConfig | None = None,
) -> HybridBackend:
    """Like :func:`open_backend`, but the snapshot must have a dense index (``DenseIndexMissingError`` if not)."""
    return HybridBackend(snapshot_dir, model=model, search_config=search_config, require_dense=True)
