"""Embedded BM25 search over a snapshot with tantivy: the default ``CatalogBackend``.

Query text is analyzed in Python with the very analyzer the index uses, and turned into term queries per field
with field boosts. Building the query ourselves (instead of tantivy's query parser) means agent text can never
be a syntax error, and field weighting is explicit. Filters are exact-term and range clauses that must match.
Tantivy ranks; we break score ties by ordinal (= product id order) so every page is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import tantivy

from sandbox.catalog.errors import REBUILD_HINT, DamagedSnapshotError, NotASnapshotError
from sandbox.catalog.product import Product
from sandbox.catalog.search import (
    SearchFilters,
    SearchHit,
    SearchRequest,
    SearchResult,
    SortOrder,
    category_prefixes,
    normalize_key,
)
from sandbox.catalog.snapshot import Snapshot
from sandbox.catalog.sorted_search import NO_TERMS_NOTE, SortedSearchPolicy, select_for_sort

LEXICAL_DIRNAME = "lexical"
ANALYZER_NAME = "prgym_en"
ANALYZER_DESCRIPTION = "simple tokenizer, remove_long(40), lowercase, ascii_fold, english stemmer"

# BM25 fields and their query-time boosts: a word in the title says more about the product than one in the
# description. Recorded in the manifest so a benchmark can name the configuration it measured.
FIELD_BOOSTS: dict[str, float] = {
    "title": 2.0,
    "brand": 1.5,
    "category": 1.0,
    "attributes": 0.6,
    "description": 0.3,
}

#: Sort order -> (fast field holding the key with unknown values already last, descending?).
_SORT_FIELDS: dict[SortOrder, tuple[str, bool]] = {
    SortOrder.price_asc: ("price_asc", False),
    SortOrder.price_desc: ("price_desc", True),
    SortOrder.rating: ("rating_desc", True),
    SortOrder.popularity: ("popularity_desc", True),
}
_MISSING_LOW = -1.0  # sorts after every real value in descending orders
_MISSING_HIGH = 1e30  # sorts after every real value in ascending orders


def _fast_numbers(searcher: tantivy.Searcher, field: str, addrs: list[tantivy.DocAddress]) -> list[float]:
    """A numeric fast field at ``addrs``. Every document stores ``ord`` and each sort key (unknown values are
    written as ``_MISSING_LOW`` / ``_MISSING_HIGH``), so no value is None: the stub's ``| None`` is for fields a
    document lacks."""
    return cast("list[float]", searcher.fast_field_values(field, addrs))


def _match_count(result: tantivy.SearchResult) -> int:
    """The total match count of a search run with ``count=True`` (tantivy's type stub omits the attribute)."""
    return int(cast(Any, result).count or 0)


def build_analyzer() -> tantivy.TextAnalyzer:
    """The text analyzer shared by indexing and query analysis (they must agree token for token)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    for name in FIELD_BOOSTS:
        builder.add_text_field(name, tokenizer_name=ANALYZER_NAME, index_option="freq")
    for name in ("brand_key", "category_key", "shop_key", "service_key", "source_key"):
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("ord", fast=True, indexed=True)
    builder.add_unsigned_field("in_stock", indexed=True)
    builder.add_float_field("price", indexed=True, fast=True)
    builder.add_float_field("rating", indexed=True, fast=True)
    for name in ("price_asc", "price_desc", "rating_desc", "popularity_desc"):
        builder.add_float_field(name, fast=True)
    return builder.build()


def text_fields(product: Product) -> dict[str, str]:
    """The text indexed under each ``FIELD_BOOSTS`` field (absent fields left out).

    Every lexical engine (tantivy here, Elasticsearch) indexes exactly these strings, so field boosts mean the
    same thing on both.
    """
    fields = {
        "title": product.title,
        "brand": product.brand or "",
        "category": " ".join(product.category_path),
        "attributes": " ".join(" ".join(values) for values in product.attributes.values()),
        "description": " ".join(filter(None, [product.description, *product.bullet_points])),
    }
    return {name: text for name, text in fields.items() if text}


def _document(ord_: int, product: Product) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_unsigned("ord", ord_)
    for name, text in text_fields(product).items():
        doc.add_text(name, text)
    if product.brand:
        doc.add_text("brand_key", normalize_key(product.brand))
    for prefix in category_prefixes(product.category_path):
        doc.add_text("category_key", prefix)
    if product.shop_id:
        doc.add_text("shop_key", normalize_key(product.shop_id))
    for service in product.services:
        doc.add_text("service_key", normalize_key(service))
    doc.add_text("source_key", normalize_key(product.source))
    if product.in_stock is not None:
        doc.add_unsigned("in_stock", int(product.in_stock))
    price = float(product.price) if product.price is not None else None
    if price is not None:
        doc.add_float("price", price)
    if product.rating is not None:
        doc.add_float("rating", product.rating)
    doc.add_float("price_asc", price if price is not None else _MISSING_HIGH)
    doc.add_float("price_desc", price if price is not None else _MISSING_LOW)
    doc.add_float("rating_desc", product.rating if product.rating is not None else _MISSING_LOW)
    doc.add_float("popularity_desc", product.popularity if product.popularity is not None else _MISSING_LOW)
    return doc


def build_lexical_index(snapshot: Snapshot, *, heap_bytes: int = 256_000_000, progress=None) -> dict:
    """Index every product of ``snapshot`` into ``<snapshot>/lexical``; returns what the manifest records.

    ``progress`` is an optional callable taking the number of products just indexed (for a progress bar).
    One writer thread keeps segment layout, and so scores, independent of scheduling.
    """
    directory = snapshot.dir / LEXICAL_DIRNAME
    directory.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(build_schema(), path=str(directory), reuse=False)
    index.register_tokenizer(ANALYZER_NAME, build_analyzer())
    writer = index.writer(heap_size=heap_bytes, num_threads=1)
    batch = 0
    for ord_, product in snapshot.store.iter_products():
        writer.add_document(_document(ord_, product))
        batch += 1
        if progress is not None and batch == 2000:
            progress(batch)
            batch = 0
    writer.commit()
    writer.wait_merging_threads()
    if progress is not None and batch:
        progress(batch)
    return {"engine": "tantivy", "analyzer": ANALYZER_DESCRIPTION, "field_boosts": FIELD_BOOSTS}


def open_lexical_index(snapshot_dir: Path) -> tantivy.Index:
    """The snapshot's tantivy index; a missing or unreadable one is a :class:`SnapshotError` naming the folder."""
    directory = Path(snapshot_dir) / LEXICAL_DIRNAME
    if not directory.is_dir():
        raise NotASnapshotError(
            f"snapshot {snapshot_dir} has no lexical index ({directory})",
            hint="rebuild it with `prgym catalog build`",
        )
    try:
        index = tantivy.Index.open(str(directory))
        index.reload()
    except ValueError as exc:  # tantivy reports a missing or corrupted file as ValueError
        raise DamagedSnapshotError(
            f"catalog snapshot {snapshot_dir} is damaged: the lexical index {directory} cannot be opened "
            f"({' '.join(str(exc).split())[:300]})",
            hint=REBUILD_HINT,
        ) from None
    return index


class TantivyBackend:
    """BM25 search over a snapshot's tantivy index (see the module docstring for the ranking rules).

    One instance is safe to share between env instances and threads of a process: the searcher is read-only.
    """

    def __init__(
        self, snapshot: Snapshot | Path | str, *, sorted_policy: SortedSearchPolicy | None = None
    ) -> None:
        self.snapshot = snapshot if isinstance(snapshot, Snapshot) else Snapshot(snapshot)
        self.sorted_policy = sorted_policy or SortedSearchPolicy()
        self.snapshot_id = self.snapshot.snapshot_id
        self._index = open_lexical_index(self.snapshot.dir)
        self._analyzer = build_analyzer()
        self._index.register_tokenizer(ANALYZER_NAME, self._analyzer)
        self._schema = self._index.schema
        self._searcher = self._index.searcher()

    def __len__(self) -> int:
        return len(self.snapshot)

    def get_products(self, product_ids: Sequence[str]) -> list[Product | None]:
        return self.snapshot.store.get(product_ids)

    # -- query construction -------------------------------------------------------------------------------------

    def analyze(self, text: str) -> list[str]:
        """Distinct index terms of ``text`` in first-seen order."""
        return list(dict.fromkeys(self._analyzer.analyze(text)))

    def _text_query(self, terms: Iterable[str], *, require_all: bool = False) -> tantivy.Query | None:
        """BM25 over every field for each term; ``require_all``: every term must occur (in some field)."""
        per_term = [
            [
                (
                    tantivy.Occur.Should,
                    tantivy.Query.boost_query(tantivy.Query.term_query(self._schema, field, term), boost),
                )
                for field, boost in FIELD_BOOSTS.items()
            ]
            for term in terms
        ]
        if not per_term:
            return None
        if require_all:
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, tantivy.Query.boolean_query(c)) for c in per_term]
            )
        return tantivy.Query.boolean_query([c for clauses in per_term for c in clauses])

    def _filter_clauses(self, filters: SearchFilters) -> list[tantivy.Query]:
        schema, q = self._schema, tantivy.Query
        out: list[tantivy.Query] = []
        if filters.price_min is not None or filters.price_max is not None:
            out.append(
                q.range_query(schema, "price", tantivy.FieldType.Float, filters.price_min, filters.price_max)
            )
        if filters.min_rating is not None:
            out.append(q.range_query(schema, "rating", tantivy.FieldType.Float, filters.min_rating, None))
        if filters.brands:
            out.append(q.term_set_query(schema, "brand_key", [normalize_key(b) for b in filters.brands]))
        if (category := filters.category_key()) is not None:
            out.append(q.term_query(schema, "category_key", category))
        if filters.shop_id:
            out.append(q.term_query(schema, "shop_key", normalize_key(filters.shop_id)))
        for service in filters.services:
            out.append(q.term_query(schema, "service_key", normalize_key(service)))
        if filters.in_stock is not None:
            out.append(q.term_query(schema, "in_stock", int(filters.in_stock)))
        if filters.source:
            out.append(q.term_query(schema, "source_key", normalize_key(filters.source)))
        return out

    def build_query(
        self, text: str, filters: SearchFilters, *, require_all: bool = False
    ) -> tuple[tantivy.Query, bool]:
        """The tantivy query for ``text`` under ``filters``, and whether it is scored by text relevance."""
        text_query = self._text_query(self.analyze(text), require_all=require_all)
        filter_clauses = self._filter_clauses(filters)
        if text_query is None and not filter_clauses:
            return tantivy.Query.all_query(), False
        clauses = [(tantivy.Occur.Must, c) for c in filter_clauses]
        if text_query is not None:
            clauses.append((tantivy.Occur.Must, text_query))
        return tantivy.Query.boolean_query(clauses), text_query is not None

    # -- ranking --------------------------------------------------------------------------------------------------

    def _top(
        self, query: tantivy.Query, need: int, order_field: str | None, descending: bool
    ) -> tuple[list[tuple[float, int]], int]:
        """The first ``need`` (key, ordinal) pairs in (key, ordinal) order, and the total match count.

        Tantivy's order among equal keys is not the product-id order we promise, so fetch a margin and, if the
        tie group at the cut runs past what was fetched, fetch more until it does not.
        """
        order = tantivy.Order.Desc if descending else tantivy.Order.Asc
        limit = need + 16
        while True:
            result = self._searcher.search(query, limit, count=True, order_by_field=order_field, order=order)
            hits = result.hits
            if not hits:
                return [], _match_count(result)
            ords = _fast_numbers(self._searcher, "ord", [addr for _, addr in hits])
            pairs = [(float(key), int(o)) for (key, _), o in zip(hits, ords, strict=True)]
            exhausted = len(hits) < limit
            if exhausted or need == 0 or pairs[-1][0] != pairs[min(need, len(pairs)) - 1][0]:
                sign = -1.0 if descending else 1.0
                pairs.sort(key=lambda p: (sign * p[0], p[1]))
                return pairs[:need], _match_count(result)
            limit *= 2

    def ranked(self, text: str, filters: SearchFilters, limit: int) -> tuple[list[SearchHit], int]:
        """Top ``limit`` hits by BM25 (ties by product id) and the total match count: the input for fusion."""
        return self._ranked(text, filters, SortOrder.relevance, limit)

    def has_no_terms(self, text: str) -> bool:
        """Text that is not empty but analyses to nothing: it must match nothing, not browse everything."""
        return bool(text.strip()) and not self.analyze(text)

    def _relevance_pool(
        self, query: tantivy.Query, limit: int, sort: SortOrder
    ) -> list[tuple[float, int, float]]:
        """The best ``limit`` matches by BM25 as (score, ordinal, sort key), best first, ties by ordinal."""
        hits = self._searcher.search(query, limit).hits
        if not hits:
            return []
        addrs = [addr for _, addr in hits]
        ords = _fast_numbers(self._searcher, "ord", addrs)
        keys = _fast_numbers(self._searcher, _SORT_FIELDS[sort][0], addrs)
        rows = [(float(score), int(o), float(k)) for (score, _), o, k in zip(hits, ords, keys, strict=True)]
        rows.sort(key=lambda r: (-r[0], r[1]))
        return rows

    def all_terms_ords(self, text: str, filters: SearchFilters, limit: int) -> set[int]:
        """Ordinals of the best ``limit`` matches holding every query term (the flags of the sorted rule)."""
        query, _ = self.build_query(text, filters, require_all=True)
        return {o for _, o, _ in self._relevance_pool(query, limit, SortOrder.price_asc)}

    def _sorted_relevant(
        self, text: str, filters: SearchFilters, sort: SortOrder, need: int
    ) -> tuple[list[SearchHit], int]:
        """A non-relevance sort over the relevant matches only (see ``sandbox.catalog.sorted_search``)."""
        policy = self.sorted_policy
        query, _ = self.build_query(text, filters)
        ranked = self._relevance_pool(query, policy.pool, sort)
        strict = self.all_terms_ords(text, filters, policy.pool)
        keep = select_for_sort([r[0] for r in ranked], [r[1] in strict for r in ranked], policy)
        descending = _SORT_FIELDS[sort][1]
        rows = sorted(
            ((ranked[i][2], ranked[i][1]) for i in keep), key=lambda r: (-r[0] if descending else r[0], r[1])
        )
        ids = self.snapshot.store.id_at([o for _, o in rows[:need]])
        return [
            SearchHit(product_id=pid, score=key) for pid, (key, _) in zip(ids, rows[:need], strict=True)
        ], len(rows)

    def _ranked(
        self, text: str, filters: SearchFilters, sort: SortOrder, need: int
    ) -> tuple[list[SearchHit], int]:
        if self.has_no_terms(text):
            return [], 0
        query, scored = self.build_query(text, filters)
        if scored and sort is not SortOrder.relevance and self.sorted_policy.enabled:
            return self._sorted_relevant(text, filters, sort, need)
        if sort is SortOrder.relevance and scored:
            field, descending = None, True
        elif sort is SortOrder.relevance:
            field, descending = "ord", False  # nothing to score: browse in product-id order
        else:
            field, descending = _SORT_FIELDS[sort]
        pairs, total = self._top(query, need, field, descending)
        if field == "ord":
            pairs = [(0.0, o) for _, o in pairs]
        ids = self.snapshot.store.id_at([o for _, o in pairs])
        return [SearchHit(product_id=pid, score=key) for pid, (key, _) in zip(ids, pairs, strict=True)], total

    def search(self, request: SearchRequest) -> SearchResult:
        hits, total = self._ranked(
            request.query, request.filters, request.sort, request.offset + request.page_size
        )
        note = NO_TERMS_NOTE if self.has_no_terms(request.query) else None
        return SearchResult(
            hits=hits[request.offset :],
            total=total,
            page=request.page,
            page_size=request.page_size,
            note=note,
        )
