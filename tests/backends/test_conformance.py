"""Every backend on one real snapshot, held to ``sandbox.catalog.conformance`` (hypothesis draws the requests)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.catalog import CatalogBackend, SearchFilters, SearchMode, SearchRequest, SortOrder
from sandbox.catalog import conformance as cf

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


class Vocab(dict):
    """Real catalog values to draw from; a short repr keeps hypothesis reports readable."""

    def __repr__(self) -> str:
        return f"Vocab({', '.join(f'{k}: {len(v)}' for k, v in self.items())})"


@pytest.fixture(scope="session")
def vocab(products) -> Vocab:
    common_brands = sorted({p.brand for p in products if p.brand})
    return Vocab(
        brands=common_brands[::5][:300],
        categories=sorted(
            {" > ".join(p.category_path[: i + 1]) for p in products for i in range(len(p.category_path))}
        )[::3][:300],
        shops=sorted({p.shop_id for p in products if p.shop_id}),
        services=sorted({s for p in products for s in p.services}),
        sources=sorted({p.source for p in products}),
        words=sorted(
            {w.lower() for p in products[::11] for w in p.title.split() if w.isalpha() and len(w) > 3}
        )[::4][:800],
    )


@st.composite
def filters(draw, vocab: Vocab) -> SearchFilters:
    low = draw(st.one_of(st.none(), st.sampled_from([0.0, 9.99, 25.0, 100.0, 499.5, 2000.0])))
    high = draw(st.one_of(st.none(), st.sampled_from([10.0, 49.99, 300.0, 1500.0, 50_000.0])))
    if low is not None and high is not None and low > high:
        low, high = high, low
    every = {
        "price_min": low,
        "price_max": high,
        "brands": draw(st.lists(st.sampled_from(vocab["brands"]), min_size=1, max_size=3)),
        "category": draw(st.sampled_from(vocab["categories"])),
        "shop_id": draw(st.sampled_from(vocab["shops"])),
        "min_rating": draw(st.sampled_from([0.0, 1.0, 3.5, 4.2, 5.0])),
        "services": draw(st.lists(st.sampled_from(vocab["services"]), min_size=1, max_size=2)),
        "in_stock": draw(st.booleans()),
        "source": draw(st.sampled_from(vocab["sources"])),
    }
    keep = draw(st.sets(st.sampled_from(sorted(every)), max_size=3))
    return SearchFilters(**{k: v for k, v in every.items() if k in keep})


def _modes(backend: CatalogBackend) -> list[SearchMode]:
    return sorted(getattr(backend, "supported_modes", {SearchMode.lexical}), key=lambda m: m.value)


def test_backend_is_a_catalog_backend(backend, products) -> None:
    assert isinstance(backend, CatalogBackend)
    assert len(backend) == len(products) > 10_000


def test_unknown_ids_are_none_in_place(backend, products) -> None:
    cf.check_get_products(backend, [p.product_id for p in products[::2999]])
    assert backend.get_products([]) == []


@pytest.mark.parametrize("field", sorted(SearchFilters.model_fields))
def test_each_filter_alone_keeps_exactly_its_matches(backend, products, vocab, field) -> None:
    """One filter at a time over several real values: browse totals and ids equal the brute-force matches."""
    values = {
        "price_min": [0.0, 24.99, 700.0],
        "price_max": [0.0, 24.99, 700.0],
        "brands": [vocab["brands"][:1], vocab["brands"][3:6], ["NO SUCH BRAND"]],
        "category": [vocab["categories"][0], vocab["categories"][len(vocab["categories"]) // 2], "nowhere"],
        "shop_id": vocab["shops"][:2] + ["no-such-shop"],
        "min_rating": [0.0, 4.5, 5.0],
        "services": [vocab["services"][:1], vocab["services"][:2]] if vocab["services"] else [["cod"]],
        "in_stock": [True, False],
        "source": vocab["sources"] + ["no-such-source"],
    }[field]
    for value in values:
        cf.check_browse(backend, products, SearchFilters(**{field: value}), limit=300)


@PROPERTY
@given(data=st.data())
def test_browse_is_the_brute_force_result_in_every_order(backend, products, vocab, data) -> None:
    f = data.draw(filters(vocab))
    sort = data.draw(st.sampled_from(list(SortOrder)))
    cf.check_browse(backend, products, f, sort, limit=300)


@PROPERTY
@given(data=st.data())
def test_text_queries_keep_exactly_the_filter_matches(backend, catalog, vocab, data) -> None:
    request = SearchRequest(
        query=" ".join(data.draw(st.lists(st.sampled_from(vocab["words"]), min_size=1, max_size=2))),
        filters=data.draw(filters(vocab)),
        sort=data.draw(st.sampled_from(list(SortOrder))),
        page=data.draw(st.integers(1, 3)),
        page_size=data.draw(st.sampled_from([1, 5, 10, 37])),
        mode=data.draw(st.sampled_from(_modes(backend))),
    )
    cf.check_query(backend, catalog, request, limit=600)


@PROPERTY
@given(data=st.data())
def test_pages_concatenate_to_the_full_result(backend, vocab, data) -> None:
    words = data.draw(st.lists(st.sampled_from(vocab["words"]), max_size=2))
    request = SearchRequest(
        query=" ".join(words),
        filters=data.draw(filters(vocab)),
        sort=data.draw(st.sampled_from(list(SortOrder))),
        mode=data.draw(st.sampled_from(_modes(backend))),
    )
    cf.check_pages_concatenate(backend, request, page_size=data.draw(st.sampled_from([3, 7, 10])), pages=4)


def test_empty_and_blank_queries_browse_in_every_mode(backend, products) -> None:
    for mode in _modes(backend):
        for query in ("", "   "):
            request = SearchRequest(query=query, mode=mode, page_size=25)
            result = backend.search(request)
            assert result.total == len(products)
            assert [h.product_id for h in result.hits] == sorted(p.product_id for p in products)[:25]


def test_deep_pages_continue_the_order(backend, products) -> None:
    """Page 60 of a browse (offset 5,900) is exactly products 5,900-5,999 in the reference order."""
    for sort in (SortOrder.relevance, SortOrder.price_asc, SortOrder.rating):
        expected = cf.reference_browse(products, SearchFilters(), sort)
        result = backend.search(SearchRequest(sort=sort, page=60, page_size=100))
        assert [h.product_id for h in result.hits] == expected[5900:6000], sort


def test_dense_and_hybrid_pages_are_full_under_filters(backend, products, vocab) -> None:
    modes = [m for m in _modes(backend) if m is not SearchMode.lexical]
    if not modes:
        pytest.skip(f"{type(backend).__name__} answers lexical requests only")
    narrow = [
        SearchFilters(source=vocab["sources"][-1], price_max=49.99),
        SearchFilters(category=vocab["categories"][0]),
        SearchFilters(brands=vocab["brands"][:3]),
        SearchFilters(min_rating=4.5, in_stock=True),
    ]
    for f in narrow:
        matching = sum(f.matches(p) for p in products)
        for mode in modes:
            for page in (1, 2):
                request = SearchRequest(
                    query="wireless speaker", filters=f, mode=mode, page=page, page_size=20
                )
                result = backend.search(request)
                assert result.total == matching, (mode, f)
                assert len(result.hits) == max(0, min(20, matching - request.offset)), (mode, f, page)
                cf.check_order(request, result.hits, cf.check_hits_match(backend, request, result.hits))
