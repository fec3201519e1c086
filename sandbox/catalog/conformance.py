"""The contract every ``CatalogBackend`` must honour, as checks anyone can run against their own backend.

Tools and the env only see the ``CatalogBackend`` protocol, so a backend that ranks differently is fine but one
whose filters, orders or pages mean something else silently changes every agent's observations. These checks pin
the meaning down against plain-Python references over the snapshot's own products:

- a filter keeps exactly the products :meth:`SearchFilters.matches` accepts (the total is that count);
- every order is sorted by its key with unknown values last and ties broken by ascending product id;
- pages of any size concatenate to the full result, without overlaps or gaps;
- an empty query browses the filter matches (product-id order under ``relevance``) in every mode;
- ``get_products`` answers in the order asked, ``None`` in place for an unknown id;
- dense and hybrid relevance rank every product that passes the filters, so pages are full.

Each check raises :class:`ConformanceError` (an ``AssertionError``) naming the request and what was wrong.
``tests/backends`` runs them on the embedded backends and, with ``PRGYM_ES_URL`` set, on Elasticsearch;
``reference`` products come from the snapshot store, so the oracle never depends on the engine being tested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from sandbox.catalog.backend import CatalogBackend
from sandbox.catalog.product import Product
from sandbox.catalog.search import (
    MAX_PAGE_SIZE,
    SearchFilters,
    SearchHit,
    SearchMode,
    SearchRequest,
    SortOrder,
)

_LAST = float("inf")

# Reference sort keys: ascending tuples, an unknown value sorts after every known one, then the product id.
SORT_KEYS: dict[SortOrder, Callable[[Product], tuple[float, str]]] = {
    SortOrder.price_asc: lambda p: (float(p.price) if p.price is not None else _LAST, p.product_id),
    SortOrder.price_desc: lambda p: (-float(p.price) if p.price is not None else _LAST, p.product_id),
    SortOrder.rating: lambda p: (-p.rating if p.rating is not None else _LAST, p.product_id),
    SortOrder.popularity: lambda p: (-p.popularity if p.popularity is not None else _LAST, p.product_id),
}


class ConformanceError(AssertionError):
    """A backend broke the ``CatalogBackend`` contract; the message names the request and the difference."""


def _fail(request: SearchRequest | None, message: str) -> ConformanceError:
    where = f" for {request.model_dump(exclude_defaults=True, mode='json')}" if request is not None else ""
    return ConformanceError(f"{message}{where}")


def reference_browse(products: Iterable[Product], filters: SearchFilters, sort: SortOrder) -> list[str]:
    """The exact ids an empty-query search must return, in order: the filter matches, sorted."""
    matching = [p for p in products if filters.matches(p)]
    if sort is SortOrder.relevance:
        return sorted(p.product_id for p in matching)
    return [p.product_id for p in sorted(matching, key=SORT_KEYS[sort])]


def collect(
    backend: CatalogBackend, request: SearchRequest, *, limit: int | None = None
) -> tuple[list[str], int]:
    """Every hit id of ``request`` (from page 1, at the largest page size) up to ``limit``, and the total.

    Checks on the way that each page is full until the total is reached and that the total does not change.
    """
    ids: list[str] = []
    total: int | None = None
    page = 1
    while True:
        paged = request.model_copy(update={"page": page, "page_size": MAX_PAGE_SIZE})
        result = backend.search(paged)
        if total is None:
            total = result.total
        elif result.total != total:
            raise _fail(paged, f"the total changed between pages ({total} on page 1, {result.total} now)")
        expected = max(0, min(MAX_PAGE_SIZE, total - paged.offset))
        if len(result.hits) != expected:
            raise _fail(
                paged, f"page {page} has {len(result.hits)} hits, the total {total} promises {expected}"
            )
        ids += [h.product_id for h in result.hits]
        if len(ids) >= total or (limit is not None and len(ids) >= limit):
            return ids, total
        page += 1


def check_hits_match(
    backend: CatalogBackend, request: SearchRequest, hits: Sequence[SearchHit]
) -> list[Product]:
    """Every hit is a product of the catalog, appears once and satisfies every filter; returns the products."""
    ids = [h.product_id for h in hits]
    if len(ids) != len(set(ids)):
        raise _fail(request, f"a page repeats a product: {ids}")
    products = backend.get_products(ids)
    for pid, product in zip(ids, products, strict=True):
        if product is None:
            raise _fail(request, f"hit {pid!r} is not in the catalog")
        if not request.filters.matches(product):
            raise _fail(request, f"hit {pid!r} does not satisfy the filters")
    return [p for p in products if p is not None]


def check_order(request: SearchRequest, hits: Sequence[SearchHit], products: Sequence[Product]) -> None:
    """Hits are in the request's order: score descending then id, or the sort key (unknown last) then id."""
    if request.sort is SortOrder.relevance:
        for a, b in zip(hits, hits[1:], strict=False):
            if not (a.score > b.score or (a.score == b.score and a.product_id < b.product_id)):
                raise _fail(
                    request,
                    f"relevance order broken: {a.product_id!r} ({a.score}) before {b.product_id!r} ({b.score})",
                )
        return
    keys = [SORT_KEYS[request.sort](p) for p in products]
    for key, next_key in zip(keys, keys[1:], strict=False):
        if key > next_key:
            raise _fail(
                request,
                f"{request.sort.value} order broken: {key} before {next_key} (unknown values go last)",
            )


def check_browse(
    backend: CatalogBackend,
    products: Sequence[Product],
    filters: SearchFilters,
    sort: SortOrder = SortOrder.relevance,
    mode: SearchMode = SearchMode.lexical,
    *,
    limit: int | None = None,
) -> None:
    """An empty query returns exactly the filter matches in the reference order, and the exact total."""
    request = SearchRequest(query="", filters=filters, sort=sort, mode=mode)
    expected = reference_browse(products, filters, sort)
    ids, total = collect(backend, request, limit=limit)
    if total != len(expected):
        raise _fail(request, f"total {total}, but {len(expected)} products satisfy the filters")
    if ids != expected[: len(ids)]:
        first = next(i for i, (a, b) in enumerate(zip(ids, expected, strict=False)) if a != b)
        raise _fail(
            request, f"browse order differs at position {first}: {ids[first]!r}, expected {expected[first]!r}"
        )


def check_query(
    backend: CatalogBackend,
    catalog: Mapping[str, Product],
    request: SearchRequest,
    *,
    limit: int = 1000,
) -> None:
    """A text query under filters returns exactly the unfiltered query's matches that pass the filters.

    The unfiltered matches are the backend's own (a lexical match is the engine's decision), except in dense and
    hybrid relevance mode, where the contract says every product is a match: there the total is the brute-force
    count of filter matches. Sorted results (any mode) must be a subset of the relevance matches, in order.
    Skips the full comparison when more than ``limit`` products would have to be paged through.
    """
    first = backend.search(request)
    check_order(request, first.hits, check_hits_match(backend, request, first.hits))
    expected_page = max(0, min(request.page_size, first.total - request.offset))
    if len(first.hits) != expected_page:
        raise _fail(
            request, f"{len(first.hits)} hits on the page, the total {first.total} promises {expected_page}"
        )
    base = request.model_copy(update={"sort": SortOrder.relevance, "filters": SearchFilters(), "page": 1})
    dense = request.mode is not SearchMode.lexical and request.query.strip()
    if dense:
        universe: set[str] | None = set(catalog)
    else:
        unfiltered = backend.search(base.model_copy(update={"page_size": 1})).total
        universe = set(collect(backend, base)[0]) if unfiltered <= limit else None
    if universe is None:
        return
    expected = {pid for pid in universe if request.filters.matches(catalog[pid])}
    full = request.model_copy(update={"page": 1})
    if request.sort is SortOrder.relevance:
        if first.total != len(expected):
            raise _fail(request, f"total {first.total}, but {len(expected)} matches satisfy the filters")
        if len(expected) <= limit:
            ids, _ = collect(backend, full)
            if set(ids) != expected:
                raise _fail(
                    request,
                    f"paged result differs from the filter matches: {sorted(set(ids) ^ expected)[:5]}",
                )
    elif first.total <= limit:
        ids, total = collect(backend, full)
        if total > len(expected) or not set(ids) <= expected:
            raise _fail(
                request,
                f"sorted result holds products the relevance result does not: {sorted(set(ids) - expected)[:5]}",
            )
        check_order(full, [SearchHit(product_id=i, score=0.0) for i in ids], [catalog[i] for i in ids])


def check_pages_concatenate(
    backend: CatalogBackend, request: SearchRequest, page_size: int = 7, pages: int = 5
) -> None:
    """Pages 1..``pages`` at ``page_size`` concatenate to the same prefix as one large page."""
    whole = backend.search(request.model_copy(update={"page": 1, "page_size": MAX_PAGE_SIZE}))
    joined: list[str] = []
    for page in range(1, pages + 1):
        result = backend.search(request.model_copy(update={"page": page, "page_size": page_size}))
        if result.total != whole.total:
            raise _fail(
                request, f"total {result.total} at page size {page_size}, {whole.total} at {MAX_PAGE_SIZE}"
            )
        joined += [h.product_id for h in result.hits]
    prefix = [h.product_id for h in whole.hits][: len(joined)]
    if joined != prefix:
        raise _fail(
            request,
            f"pages of {page_size} do not concatenate to the full result: {joined[:10]} vs {prefix[:10]}",
        )


def check_get_products(backend: CatalogBackend, known: Sequence[str]) -> None:
    """Known ids come back in the order asked, with ``None`` in place of each unknown one."""
    unknown = ["prgym:no-such-product", known[0] + "#missing"]
    asked = [unknown[0], *known, unknown[1], known[0]]
    got = backend.get_products(asked)
    if len(got) != len(asked):
        raise _fail(None, f"get_products returned {len(got)} records for {len(asked)} ids")
    for pid, product in zip(asked, got, strict=True):
        if pid in unknown:
            if product is not None:
                raise _fail(None, f"get_products({pid!r}) should be None, got {product.product_id!r}")
        elif product is None or product.product_id != pid:
            raise _fail(None, f"get_products({pid!r}) returned {getattr(product, 'product_id', None)!r}")


def check_all(
    backend: CatalogBackend,
    products: Sequence[Product],
    *,
    queries: Sequence[str],
    filters: Sequence[SearchFilters],
    modes: Sequence[SearchMode] = (SearchMode.lexical,),
) -> int:
    """Run every check on a fixed set of queries and filters (for a quick check of a new backend).

    Returns the number of requests checked. ``tests/backends`` draws the requests with hypothesis instead.
    """
    catalog = {p.product_id: p for p in products}
    count = 0
    check_get_products(backend, [p.product_id for p in products[:5]])
    for f in filters:
        for sort in SortOrder:
            check_browse(backend, products, f, sort, limit=2 * MAX_PAGE_SIZE)
            count += 1
        for mode in modes:
            for query in queries:
                for sort in SortOrder:
                    request = SearchRequest(query=query, filters=f, sort=sort, mode=mode)
                    check_query(backend, catalog, request)
                    check_pages_concatenate(backend, request)
                    count += 1
    return count
