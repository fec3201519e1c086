"""``SearchRequest`` -> Elasticsearch request bodies, as pure functions (no client, no I/O; tested on their own).

Every filter becomes a ``bool.filter`` clause that means exactly what ``SearchFilters.matches`` says (see
``mapping`` for why each field type was chosen): a ``range`` per numeric bound, ``terms`` for "any of these
brands", one ``term`` per required service (all required), a nested ``bool`` for the category (the path itself
or a ``prefix`` of it followed by ``' > '``: a prefix by whole levels, never "Audio" matching "Audiophile"). Filter
context does not score, so filters never change the BM25 ranking, exactly as in the tantivy backend.

Ordering: ``relevance`` with a text query sorts by ``_score`` then ``product_id``; without one (a browse) by
``product_id``; the field orders by the field with ``missing: _last`` then ``product_id``. The id tie-break makes
every order total, which is what makes ``search_after`` pages exact. Totals are exact (``track_total_hits``).
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.catalog.elasticsearch.mapping import VECTOR_FIELD
from sandbox.catalog.lexical import FIELD_BOOSTS
from sandbox.catalog.search import SearchFilters, SortOrder, normalize_key

ID_FIELD = "product_id"
# Fields a page needs beside the id: ordinals for fusion, sort keys for the reported scores.
HIT_SOURCE = [ID_FIELD, "ord", "price", "rating", "popularity"]
_TERM = re.compile(r"[^\W_]+")
_MAX_TERM_CHARS = 39  # the analyzer drops longer tokens (tantivy's remove_long(40))

_SORT_FIELDS: dict[SortOrder, tuple[str, str]] = {
    SortOrder.price_asc: ("price", "asc"),
    SortOrder.price_desc: ("price", "desc"),
    SortOrder.rating: ("rating", "desc"),
    SortOrder.popularity: ("popularity", "desc"),
}


def has_terms(query: str) -> bool:
    """Whether ``query`` yields any index term; a query without one is a browse, as in the tantivy backend."""
    return any(len(t) <= _MAX_TERM_CHARS for t in _TERM.findall(query))


def filter_clauses(filters: SearchFilters) -> list[dict[str, Any]]:
    """The ``bool.filter`` clauses of ``filters`` (empty list: no filter)."""
    out: list[dict[str, Any]] = []
    price: dict[str, float] = {}
    if filters.price_min is not None:
        price["gte"] = filters.price_min
    if filters.price_max is not None:
        price["lte"] = filters.price_max
    if price:
        out.append({"range": {"price": price}})
    if filters.min_rating is not None:
        out.append({"range": {"rating": {"gte": filters.min_rating}}})
    if filters.brands:
        out.append({"terms": {"brand_key": sorted({normalize_key(b) for b in filters.brands})}})
    if (category := filters.category_key()) is not None:
        out.append(
            {
                "bool": {
                    "should": [
                        {"term": {"category_key": category}},
                        {"prefix": {"category_key": category + " > "}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    if filters.shop_id:
        out.append({"term": {"shop_key": normalize_key(filters.shop_id)}})
    for service in sorted({normalize_key(s) for s in filters.services}):
        out.append({"term": {"service_key": service}})
    if filters.in_stock is not None:
        out.append({"term": {"in_stock": filters.in_stock}})
    if filters.source:
        out.append({"term": {"source_key": normalize_key(filters.source)}})
    return out


def text_query(query: str) -> dict[str, Any]:
    """BM25 over the text fields with the embedded backend's boosts, summed over fields like tantivy's clauses."""
    return {
        "multi_match": {
            "query": query,
            "type": "most_fields",
            "operator": "or",
            "fields": [f"{name}^{boost}" for name, boost in FIELD_BOOSTS.items()],
        }
    }


def search_query(query: str, filters: SearchFilters) -> dict[str, Any]:
    """The ``query`` of a search: text (if any) must match, filters filter; neither: ``match_all``."""
    clauses = filter_clauses(filters)
    scored = has_terms(query)
    if not scored and not clauses:
        return {"match_all": {}}
    body: dict[str, Any] = {}
    if scored:
        body["must"] = [text_query(query)]
    if clauses:
        body["filter"] = clauses
    return {"bool": body}


def sort_clauses(sort: SortOrder, *, scored: bool) -> list[Any]:
    """A total order: the requested key, then the product id."""
    if sort is SortOrder.relevance:
        return (
            [{"_score": {"order": "desc"}}, {ID_FIELD: {"order": "asc"}}] if scored else [{ID_FIELD: "asc"}]
        )
    field, order = _SORT_FIELDS[sort]
    return [{field: {"order": order, "missing": "_last"}}, {ID_FIELD: {"order": "asc"}}]


def search_body(
    query: str,
    filters: SearchFilters,
    sort: SortOrder,
    *,
    size: int,
    from_: int = 0,
    search_after: list[Any] | None = None,
    source: list[str] | bool = HIT_SOURCE,
) -> dict[str, Any]:
    """One page of a lexical search or browse: ``from``/``size``, or ``search_after`` for deep pages."""
    body: dict[str, Any] = {
        "query": search_query(query, filters),
        "sort": sort_clauses(sort, scored=has_terms(query)),
        "size": size,
        "track_total_hits": True,
        "_source": source,
    }
    if search_after is not None:
        body["search_after"] = search_after
    elif from_:
        body["from"] = from_
    return body


def count_body(filters: SearchFilters) -> dict[str, Any]:
    """Exact number of products passing ``filters`` (dense and hybrid totals), without fetching any."""
    return {"query": search_query("", filters), "size": 0, "track_total_hits": True}


def knn_body(vector: list[float], filters: SearchFilters, *, k: int, num_candidates: int) -> dict[str, Any]:
    """Top ``k`` products by cosine among those passing ``filters`` (the filter applies during the search)."""
    knn: dict[str, Any] = {
        "field": VECTOR_FIELD,
        "query_vector": vector,
        "k": k,
        "num_candidates": max(k, num_candidates),
    }
    clauses = filter_clauses(filters)
    if clauses:
        knn["filter"] = clauses
    return {"knn": knn, "size": k, "_source": HIT_SOURCE}


def cosine_body(vector: list[float], ords: list[int]) -> dict[str, Any]:
    """Exact cosine of the query to given products (fusion scores BM25-only candidates this way)."""
    return {
        "query": {
            "script_score": {
                "query": {"terms": {"ord": ords}},
                "script": {
                    "source": f"cosineSimilarity(params.query_vector, '{VECTOR_FIELD}') + 1.0",
                    "params": {"query_vector": vector},
                },
            }
        },
        "size": len(ords),
        "_source": ["ord"],
    }


def values_body(ords: list[int]) -> dict[str, Any]:
    """Sort-key fields of given products (dense/hybrid pools sorted by price, rating or popularity)."""
    return {"query": {"terms": {"ord": ords}}, "size": len(ords), "_source": HIT_SOURCE}
