"""``ElasticsearchBackend``: the ``CatalogBackend`` for catalogs that outgrow one machine.

Requests mean exactly what they mean on the embedded backends (``tests/backends`` holds both to one contract):

- lexical: BM25 with the same fields and boosts; filters in filter context; every order total (id tie-break);
  pages within the first ``max_window`` results by ``from``/``size``, deeper pages by walking ``search_after``
  over sort values only (the index of a snapshot never changes, so no point in time is needed); exact totals.
- dense: kNN over the snapshot's own vectors with the filters inside the kNN search (``knn.filter``), so a
  filtered query fills its page whenever enough products match; total = products passing the filters.
- hybrid: BM25 and kNN rankings fused in prgym by ``dense.fusion.hybrid_ranking``, the code HybridBackend uses,
  on the same ordinals: both backends fuse identically.
- non-relevance orders in dense/hybrid: the ``sort_pool`` most relevant products, sorted by the shared
  ``sort_by_values`` (unknown values last, ties by id).

Searches run with ``preference=<snapshot id>`` (the same shard copies answer every page) and
``allow_partial_search_results=false``; a timeout, failed shard or unreachable cluster raises an
``EsBackendError`` naming what failed, never a short page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sandbox.catalog.dense.config import DenseSearchConfig
from sandbox.catalog.dense.fusion import (
    MISSING_HIGH,
    MISSING_LOW,
    SORT_COLUMNS,
    hybrid_ranking,
    sort_by_values,
)
from sandbox.catalog.elasticsearch import query as q
from sandbox.catalog.elasticsearch.client import EsSettings, call, make_client
from sandbox.catalog.elasticsearch.errors import EsBackendError, EsIndexMissingError
from sandbox.catalog.elasticsearch.mapping import index_name
from sandbox.catalog.elasticsearch.response import EsHit, parse_hits, parse_mget, parse_search, parse_total
from sandbox.catalog.product import Product
from sandbox.catalog.search import (
    SearchFilters,
    SearchHit,
    SearchMode,
    SearchRequest,
    SearchResult,
    SortOrder,
)

MAX_WINDOW = 10_000  # Elasticsearch's default index.max_result_window, and the largest kNN k
KNN_TIE_MARGIN = 16  # extra neighbours fetched so equal scores at the cut are ordered by id, not by chance


class ElasticsearchBackend:
    """Search one snapshot's index on a cluster (module docstring has the rules).

    ``settings``: an :class:`EsSettings` or a URL (credentials from the environment). The index is the one of
    ``snapshot_id`` under the alias, else ``index`` (an index or alias name), else whatever the alias points at.
    ``embedder``: the query encoder for dense/hybrid (default: the model the snapshot was embedded with, loaded
    on first use); it must be the model recorded in the index.
    """

    def __init__(
        self,
        settings: EsSettings | str,
        *,
        snapshot_id: str | None = None,
        index: str | None = None,
        embedder: Any = None,
        search_config: DenseSearchConfig | None = None,
        client: Any = None,
        num_candidates: int = 200,
    ) -> None:
        self.settings = settings if isinstance(settings, EsSettings) else EsSettings.from_env(settings)
        self.url = self.settings.url
        self.client = client if client is not None else make_client(self.settings)
        self.config = search_config or DenseSearchConfig()
        self.num_candidates = num_candidates
        target = index or (
            index_name(self.settings.alias, snapshot_id) if snapshot_id else self.settings.alias
        )
        mappings = call(
            f"reading the mapping of {target}",
            self.url,
            lambda: self.client.options(ignore_status=404).indices.get_mapping(index=target).body,
        )
        if "error" in mappings or not mappings:
            raise EsIndexMissingError(
                f"Elasticsearch at {self.url} has no index or alias {target!r}; push the snapshot first: "
                f"prgym catalog push --catalog SNAPSHOT --es {self.url}"
            )
        if len(mappings) > 1:
            raise EsBackendError(
                f"{target!r} names {len(mappings)} indices ({sorted(mappings)}); name one snapshot"
            )
        (self.index, body), *_ = mappings.items()
        meta = body["mappings"].get("_meta") or {}
        if not meta.get("complete"):
            raise EsIndexMissingError(
                f"index {self.index} is incomplete (its push was interrupted or had failures); rerun "
                f"`prgym catalog push --catalog SNAPSHOT --es {self.url}` to finish it"
            )
        self.snapshot_id: str = meta["snapshot_id"]
        if snapshot_id is not None and snapshot_id != self.snapshot_id:
            raise EsIndexMissingError(
                f"index {self.index} holds snapshot {self.snapshot_id}, not {snapshot_id}"
            )
        self._count = int(meta["n_products"])
        self.dense_meta: dict[str, Any] | None = meta.get("dense")
        self._embedder = embedder
        if embedder is not None and self.dense_meta:
            from sandbox.catalog.dense.embedder import ModelSpec

            recorded = ModelSpec.model_validate(self.dense_meta["model"])
            if not recorded.same_model(embedder.spec):
                raise EsBackendError(
                    f"index {self.index} holds vectors of {recorded.describe()}, but the query embedder is "
                    f"{embedder.spec.describe()}; query with the model the snapshot was embedded with"
                )

    # -- CatalogBackend -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    @property
    def supported_modes(self) -> frozenset[SearchMode]:
        return frozenset(SearchMode) if self.dense_meta else frozenset({SearchMode.lexical})

    def get_products(self, product_ids: Sequence[str]) -> list[Product | None]:
        ids = [str(p) for p in product_ids]
        if not ids:
            return []
        body = call(
            "fetching products",
            self.url,
            lambda: self.client.mget(index=self.index, ids=ids, source_includes=["record"]).body,
        )
        return [None if r is None else Product.model_validate(r) for r in parse_mget(body, ids)]

    def search(self, request: SearchRequest) -> SearchResult:
        if request.mode is SearchMode.lexical or not request.query.strip():
            hits, total = self._lexical_page(request)
            return SearchResult(hits=hits, total=total, page=request.page, page_size=request.page_size)
        if not self.dense_meta:
            raise EsBackendError(
                f"index {self.index} has no vectors, so it answers lexical search only; build the snapshot with "
                "`prgym catalog build --dense` and push it again"
            )
        need = request.offset + request.page_size
        allowed = self.count(request.filters)
        names: dict[int, str] = {}
        if request.sort is SortOrder.relevance:
            scores, ords = self.ranked_ords(
                request.query, request.filters, request.mode, min(need, allowed), names
            )
            total = allowed
        else:
            pool = min(self.config.sort_pool, allowed)
            _, pool_ords = self.ranked_ords(request.query, request.filters, request.mode, pool, names)
            column, descending = SORT_COLUMNS[request.sort.value]
            values = self._values(pool_ords, column)
            scores, ords = sort_by_values(values, pool_ords, descending)
            total = len(ords)
        hits = [
            SearchHit(product_id=names[int(o)], score=float(s))
            for o, s in zip(
                ords[request.offset : need].tolist(), scores[request.offset : need].tolist(), strict=True
            )
        ]
        return SearchResult(hits=hits, total=total, page=request.page, page_size=request.page_size)

    # -- requests -------------------------------------------------------------------------------------------------

    def _search(self, what: str, body: dict[str, Any]) -> dict[str, Any]:
        return call(
            what,
            self.url,
            lambda: (
                self.client.search(
                    index=self.index,
                    body=body,
                    preference=self.snapshot_id,
                    allow_partial_search_results=False,
                ).body
            ),
        )

    def count(self, filters: SearchFilters) -> int:
        """Exact number of products passing ``filters``."""
        return parse_total(self._search("counting filter matches", q.count_body(filters)))

    def _lexical_page(self, request: SearchRequest) -> tuple[list[SearchHit], int]:
        offset, size = request.offset, request.page_size
        after = None
        if offset + size > MAX_WINDOW:
            after, offset = self._walk_to(request, offset)
        body = q.search_body(
            request.query, request.filters, request.sort, size=size, from_=offset, search_after=after
        )
        page = parse_search(self._search("searching", body))
        scored = q.has_terms(request.query)
        return [_hit(h, request.sort, scored) for h in page.hits], page.total

    def _walk_to(self, request: SearchRequest, offset: int) -> tuple[list[Any] | None, int]:
        """Sort values of the hit just before ``offset`` (walking ``search_after`` pages of ids only)."""
        after: list[Any] | None = None
        done = 0
        while done < offset:
            step = min(MAX_WINDOW, offset - done)
            body = q.search_body(
                request.query, request.filters, request.sort, size=step, search_after=after, source=False
            )
            hits = parse_hits(self._search("paging to a deep page", body))
            if not hits:
                return after, 0
            after = hits[-1].sort
            done += len(hits)
            if len(hits) < step:
                break
        return after, 0

    def ranked(self, text: str, filters: SearchFilters, limit: int) -> tuple[list[SearchHit], int]:
        """Top ``limit`` BM25 hits (ties by id) and the total: the same shape as ``TantivyBackend.ranked``."""
        body = q.search_body(text, filters, SortOrder.relevance, size=limit)
        page = parse_search(self._search("ranking", body))
        return [_hit(h, SortOrder.relevance, q.has_terms(text)) for h in page.hits], page.total

    def ranked_ords(
        self, query: str, filters: SearchFilters, mode: SearchMode, limit: int, names: dict[int, str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``limit`` (scores, ordinals) for dense or hybrid; ``names`` collects ordinal -> product id."""
        if limit <= 0:
            return np.empty(0), np.empty(0, dtype=np.int64)
        vector = [float(x) for x in self.embedder.encode_query(query)]

        def dense(n: int) -> tuple[np.ndarray, np.ndarray]:
            if n > MAX_WINDOW:
                raise EsBackendError(
                    f"dense/hybrid results beyond the first {MAX_WINDOW:,} are not available from Elasticsearch "
                    "kNN (page deeper in lexical mode, or narrow the filters)"
                )
            k = min(n + KNN_TIE_MARGIN, MAX_WINDOW)
            body = q.knn_body(vector, filters, k=k, num_candidates=max(self.num_candidates, k))
            hits = parse_hits(self._search("kNN search", body))
            return self._scored(hits, names, lambda s: 2.0 * s - 1.0, n)

        def lexical(n: int) -> tuple[np.ndarray, np.ndarray]:
            body = q.search_body(query, filters, SortOrder.relevance, size=n)
            hits = parse_hits(self._search("BM25 ranking for fusion", body))
            for h in hits:
                names[h.ord] = h.product_id
            scores = np.asarray([h.score or 0.0 for h in hits], dtype=np.float64)
            return scores, np.asarray([h.ord for h in hits], dtype=np.int64)

        def cosine(ords: np.ndarray) -> np.ndarray:
            wanted = [int(o) for o in ords]
            hits = parse_hits(self._search("scoring fusion candidates", q.cosine_body(vector, wanted)))
            found = {h.ord: (h.score or 0.0) - 1.0 for h in hits}
            missing = [o for o in wanted if o not in found]
            if missing:
                raise EsBackendError(f"index {self.index} has no vectors for ordinals {missing[:5]}")
            return np.asarray([found[o] for o in wanted], dtype=np.float64)

        if mode is SearchMode.dense:
            return dense(limit)
        if mode is not SearchMode.hybrid:
            raise ValueError(f"ranked_ords: mode must be dense or hybrid, got {mode.value}")
        return hybrid_ranking(self.config, limit, dense, lexical, cosine)

    @staticmethod
    def _scored(hits: list[EsHit], names: dict[int, str], to_cosine, n: int) -> tuple[np.ndarray, np.ndarray]:
        rows = sorted(
            ((to_cosine(h.score or 0.0), h.ord, h.product_id) for h in hits), key=lambda r: (-r[0], r[1])
        )
        rows = rows[:n]
        for _, ord_, pid in rows:
            names[ord_] = pid
        return (
            np.asarray([r[0] for r in rows], dtype=np.float64),
            np.asarray([r[1] for r in rows], dtype=np.int64),
        )

    def _values(self, ords: np.ndarray, column: str) -> np.ndarray:
        if len(ords) == 0:
            return np.empty(0)
        hits = parse_hits(self._search("reading sort keys", q.values_body([int(o) for o in ords])))
        by_ord = {h.ord: h.source.get(column) for h in hits}
        values = [by_ord.get(int(o)) for o in ords]
        return np.asarray([np.nan if value is None else float(value) for value in values])

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from sandbox.catalog.dense.embedder import (
                DEFAULT_MODEL_ALIASES,
                Embedder,
                ModelSpec,
                resolve_model,
            )

            assert self.dense_meta is not None
            recorded = ModelSpec.model_validate(self.dense_meta["model"])
            default = recorded.model_id in DEFAULT_MODEL_ALIASES or not recorded.path
            spec = resolve_model(recorded.model_id if default or recorded.path is None else recorded.path)
            if not recorded.same_model(spec):
                raise EsBackendError(
                    f"index {self.index} was embedded with {recorded.describe()}, which is not on this machine; "
                    "pass embedder= with that model"
                )
            backend = self.dense_meta.get("backend", "torch")  # indexes pushed before it was recorded: torch
            self._embedder = Embedder(spec, query_cache_size=self.config.query_cache_size, backend=backend)
        return self._embedder


def _hit(hit: EsHit, sort: SortOrder, scored: bool) -> SearchHit:
    """A prgym hit; the score is BM25, 0 for a browse, or the sort key (unknown: the lexical backend's sentinel)."""
    if sort is SortOrder.relevance:
        return SearchHit(product_id=hit.product_id, score=float(hit.score or 0.0) if scored else 0.0)
    column, descending = SORT_COLUMNS[sort.value]
    value = hit.source.get(column)
    missing = MISSING_LOW if descending else MISSING_HIGH
    return SearchHit(product_id=hit.product_id, score=missing if value is None else float(value))
