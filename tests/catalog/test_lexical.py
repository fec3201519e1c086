"""The tantivy backend on a real catalog: filters hold, orders are sorted, pages are stable and deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.catalog import CatalogBackend, SearchFilters, SearchRequest, SortOrder
from sandbox.catalog.lexical import TantivyBackend


@pytest.fixture(scope="module")
def backend(small_snapshot: Path) -> TantivyBackend:
    return TantivyBackend(small_snapshot)


@pytest.fixture(scope="module")
def catalog(backend: TantivyBackend) -> list:
    return [p for _, p in backend.snapshot.store.iter_products()]


class Vocab(dict):
    """Real catalog values; a short repr keeps hypothesis failure reports readable."""

    def __repr__(self) -> str:
        return f"Vocab({', '.join(f'{k}: {len(v)}' for k, v in self.items())})"


@pytest.fixture(scope="module")
def vocab(catalog: list) -> Vocab:
    """Real values to draw filters and queries from, so generated requests actually match products."""
    return Vocab(
        {
            "brands": sorted({p.brand for p in catalog if p.brand})[:400],
            "categories": sorted(
                {" > ".join(p.category_path[: i + 1]) for p in catalog for i in range(len(p.category_path))}
            )[:400],
            "shops": sorted({p.shop_id for p in catalog if p.shop_id}),
            "services": sorted({s for p in catalog for s in p.services}),
            "sources": sorted({p.source for p in catalog}),
            "words": sorted({w for p in catalog[::7] for w in p.title.split() if w.isalpha() and len(w) > 3})[
                :2000
            ],
        }
    )


def test_backend_satisfies_protocol(backend: TantivyBackend) -> None:
    assert isinstance(backend, CatalogBackend)
    assert len(backend) > 10_000


def _filters(draw, vocab) -> SearchFilters:
    low = draw(st.one_of(st.none(), st.floats(0, 5000)))
    high = draw(st.one_of(st.none(), st.floats(0, 100_000)))
    if low is not None and high is not None and low > high:
        low, high = high, low
    return SearchFilters(
        price_min=low,
        price_max=high,
        brands=draw(st.lists(st.sampled_from(vocab["brands"]), max_size=3)),
        category=draw(st.one_of(st.none(), st.sampled_from(vocab["categories"]))),
        shop_id=draw(st.one_of(st.none(), st.sampled_from(vocab["shops"]))),
        min_rating=draw(st.one_of(st.none(), st.sampled_from([1.0, 3.5, 4.2, 5.0]))),
        services=draw(st.lists(st.sampled_from(vocab["services"]), max_size=2)) if vocab["services"] else [],
        in_stock=draw(st.one_of(st.none(), st.booleans())),
        source=draw(st.one_of(st.none(), st.sampled_from(vocab["sources"]))),
    )


@st.composite
def requests(draw, vocab) -> SearchRequest:
    # Mostly one or two filters at a time (so hits exist), sometimes many.
    filters = _filters(draw, vocab)
    keep = draw(st.sets(st.sampled_from(list(SearchFilters.model_fields)), min_size=0, max_size=3))
    filters = SearchFilters(**{k: v for k, v in filters.model_dump().items() if k in keep})
    words = draw(st.lists(st.sampled_from(vocab["words"]), max_size=3))
    return SearchRequest(
        query=" ".join(words),
        filters=filters,
        sort=draw(st.sampled_from(list(SortOrder))),
        page=draw(st.integers(1, 3)),
        page_size=draw(st.sampled_from([5, 10, 50])),
    )


SORT_KEY = {
    SortOrder.price_asc: lambda p: float(p.price) if p.price is not None else float("inf"),
    SortOrder.price_desc: lambda p: -float(p.price) if p.price is not None else float("inf"),
    SortOrder.rating: lambda p: -p.rating if p.rating is not None else float("inf"),
    SortOrder.popularity: lambda p: -p.popularity if p.popularity is not None else float("inf"),
}


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_hit_satisfies_filters_and_orders_hold(backend, vocab, data) -> None:
    request = data.draw(requests(vocab))
    result = backend.search(request)
    products = backend.get_products([h.product_id for h in result.hits])
    assert all(p is not None for p in products)
    for product in products:
        assert request.filters.matches(product), (request, product)
    assert len(result.hits) == max(0, min(request.page_size, result.total - request.offset))
    ids = [h.product_id for h in result.hits]
    assert len(ids) == len(set(ids))
    if request.sort is SortOrder.relevance:
        scores = [h.score for h in result.hits]
        assert scores == sorted(scores, reverse=True)
        # ties broken by ascending product id
        for a, b in zip(result.hits, result.hits[1:], strict=False):
            if a.score == b.score:
                assert a.product_id < b.product_id
    else:
        keys = [(SORT_KEY[request.sort](p), p.product_id) for p in products]
        assert keys == sorted(keys)


def test_filtered_total_equals_reference_count(backend, catalog, vocab) -> None:
    """The total hit count of a filter-only query equals a brute-force count with SearchFilters.matches."""
    cases = [
        SearchFilters(price_max=50),
        SearchFilters(price_min=100, price_max=300, source="bestbuy"),
        SearchFilters(brands=vocab["brands"][:5]),
        SearchFilters(category=vocab["categories"][0]),
        SearchFilters(in_stock=True),
        SearchFilters(in_stock=False),
        SearchFilters(min_rating=4.0),
        SearchFilters(shop_id=vocab["shops"][0]),
        SearchFilters(services=vocab["services"][:1]),
    ]
    for filters in cases:
        expected = sum(filters.matches(p) for p in catalog)
        assert backend.search(SearchRequest(filters=filters)).total == expected, filters


def test_pages_concatenate_to_one_long_page(backend) -> None:
    for sort in SortOrder:
        long = backend.search(SearchRequest(query="usb cable", sort=sort, page_size=30)).hits
        pages = [
            backend.search(SearchRequest(query="usb cable", sort=sort, page=n, page_size=10)).hits
            for n in (1, 2, 3)
        ]
        assert [h.product_id for page in pages for h in page] == [h.product_id for h in long]


def test_deterministic_across_instances(small_snapshot) -> None:
    a, b = TantivyBackend(small_snapshot), TantivyBackend(small_snapshot)
    for query in ["samsung phone", "laptop", "", "shirt men blue"]:
        request = SearchRequest(query=query, page_size=50)
        assert a.search(request) == b.search(request)


def test_query_text_is_never_a_syntax_error(backend) -> None:
    for text in ['"unbalanced', "title:foo AND (", "*", "price:[0 TO", "\\", "💡 lamp", "a" * 5000]:
        result = backend.search(SearchRequest(query=text))
        assert result.total >= 0


def test_title_match_ranks_first(backend, catalog) -> None:
    product = next(p for p in catalog if p.source == "bestbuy" and len(p.title.split()) > 6)
    hits = backend.search(SearchRequest(query=product.title, page_size=5)).hits
    assert product.product_id in [h.product_id for h in hits]


def test_get_products_keeps_order_and_reports_unknown(backend, catalog) -> None:
    ids = [catalog[5].product_id, "nope:1", catalog[1].product_id]
    got = backend.get_products(ids)
    assert got[0] == catalog[5] and got[1] is None and got[2] == catalog[1]


def test_invalid_filters_are_rejected_with_field_names() -> None:
    with pytest.raises(ValueError, match="price_min"):
        SearchFilters(price_min=10, price_max=5)
    with pytest.raises(ValueError, match="page_size"):
        SearchRequest(page_size=1000)
