"""HybridBackend on a real catalog with real embeddings: filters, full pages, exact ranking, ties, every index kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.catalog import CatalogBackend, Product, SearchFilters, SearchMode, SearchRequest, SortOrder
from sandbox.catalog.dense import DenseConfig, DenseSearchConfig, FusionMethod, HybridBackend, IndexKind
from sandbox.catalog.dense.embedding_cache import EmbeddingCache
from sandbox.catalog.lexical import TantivyBackend
from sandbox.catalog.sorted_search import NO_TERMS_NOTE

DENSE_MODES = [SearchMode.dense, SearchMode.hybrid]


@pytest.fixture(scope="module")
def backend(dense_snapshot: Path, embedder) -> HybridBackend:
    return HybridBackend(dense_snapshot, embedder=embedder)


@pytest.fixture(scope="module")
def catalog(backend: HybridBackend) -> list[Product]:
    return [p for _, p in backend.snapshot.store.iter_products()]


@pytest.fixture(scope="module")
def vocab(catalog: list[Product]) -> dict[str, list]:
    return {
        "brands": sorted({p.brand for p in catalog if p.brand}),
        "categories": sorted(
            {" > ".join(p.category_path[: i + 1]) for p in catalog for i in range(len(p.category_path))}
        ),
        "shops": sorted({p.shop_id for p in catalog if p.shop_id}),
        "services": sorted({s for p in catalog for s in p.services}),
        "sources": sorted({p.source for p in catalog}),
        "words": sorted({w.lower() for p in catalog for w in p.title.split() if w.isalpha() and len(w) > 3})[
            ::3
        ],
    }


@st.composite
def some_filters(draw, vocab) -> SearchFilters:
    low = draw(st.one_of(st.none(), st.sampled_from([0.0, 10.0, 99.99, 500.0])))
    high = draw(st.one_of(st.none(), st.sampled_from([50.0, 999.0, 20_000.0])))
    if low is not None and high is not None and low > high:
        low, high = high, low
    every = {
        "price_min": low,
        "price_max": high,
        "brands": draw(st.lists(st.sampled_from(vocab["brands"]), min_size=1, max_size=3)),
        "category": draw(st.sampled_from(vocab["categories"])),
        "shop_id": draw(st.sampled_from(vocab["shops"])),
        "min_rating": draw(st.sampled_from([1.0, 3.5, 4.2])),
        "services": draw(st.lists(st.sampled_from(vocab["services"]), min_size=1, max_size=2)),
        "in_stock": draw(st.booleans()),
        "source": draw(st.sampled_from(vocab["sources"])),
    }
    keep = draw(st.sets(st.sampled_from(sorted(every)), max_size=3))
    return SearchFilters(**{k: v for k, v in every.items() if k in keep})


@st.composite
def requests(draw, vocab) -> SearchRequest:
    words = draw(st.lists(st.sampled_from(vocab["words"]), min_size=1, max_size=3))
    return SearchRequest(
        query=" ".join(words),
        filters=draw(some_filters(vocab)),
        sort=draw(st.sampled_from(list(SortOrder))),
        page=draw(st.integers(1, 3)),
        page_size=draw(st.sampled_from([5, 10, 50])),
        mode=draw(st.sampled_from(DENSE_MODES)),
    )


SORT_KEY = {
    SortOrder.price_asc: lambda p: float(p.price) if p.price is not None else float("inf"),
    SortOrder.price_desc: lambda p: -float(p.price) if p.price is not None else float("inf"),
    SortOrder.rating: lambda p: -p.rating if p.rating is not None else float("inf"),
    SortOrder.popularity: lambda p: -p.popularity if p.popularity is not None else float("inf"),
}


def test_backend_satisfies_protocol(backend: HybridBackend, catalog) -> None:
    assert isinstance(backend, CatalogBackend)
    assert len(backend) == len(catalog) > 400


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hits_satisfy_filters_pages_are_full_and_ordered(backend, catalog, vocab, data) -> None:
    request = data.draw(requests(vocab))
    result = backend.search(request)
    matching = sum(request.filters.matches(p) for p in catalog)
    if request.query.strip() and backend.lexical.has_no_terms(request.query):
        # A query of nothing indexable (e.g. one 40+ character word) is answered as lexical, with the note.
        assert result.total == 0 and result.note == NO_TERMS_NOTE
        return
    if request.sort is SortOrder.relevance:
        assert result.total == matching  # dense ranks every product that passes the filters
    else:
        # Only the relevant matches of the pool sort (sandbox.catalog.sorted_search), at least min_keep of them.
        policy = backend.lexical.sorted_policy
        pool = min(matching, backend.config.sort_pool)
        assert min(pool, policy.min_keep, policy.min_all_terms) <= result.total <= pool
    # A filtered query returns a full page whenever enough products match: never a silent short list.
    assert len(result.hits) == max(0, min(request.page_size, result.total - request.offset))
    products = backend.get_products([h.product_id for h in result.hits])
    for product in products:
        assert product is not None and request.filters.matches(product), (request, product)
    ids = [h.product_id for h in result.hits]
    assert len(ids) == len(set(ids))
    if request.sort is SortOrder.relevance:
        for a, b in zip(result.hits, result.hits[1:], strict=False):
            assert a.score > b.score or (a.score == b.score and a.product_id < b.product_id)
    else:
        keys = [(SORT_KEY[request.sort](p), p.product_id) for p in products]
        assert keys == sorted(keys)


def _all_hits(backend: CatalogBackend, request: SearchRequest) -> list[str]:
    ids: list[str] = []
    page = 1
    while True:
        result = backend.search(request.model_copy(update={"page": page, "page_size": 100}))
        ids += [h.product_id for h in result.hits]
        if len(ids) >= result.total or not result.hits:
            return ids
        page += 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_each_mode_can_return_exactly_the_products_that_match(backend, catalog, vocab, data) -> None:
    """Paging to the end, dense and hybrid return exactly the filter matches: the same set as a lexical browse."""
    filters = data.draw(some_filters(vocab))
    query = " ".join(data.draw(st.lists(st.sampled_from(vocab["words"]), min_size=1, max_size=2)))
    expected = {p.product_id for p in catalog if filters.matches(p)}
    browse = _all_hits(backend, SearchRequest(query="", filters=filters, mode=SearchMode.lexical))
    assert set(browse) == expected
    for mode in DENSE_MODES:
        ids = _all_hits(backend, SearchRequest(query=query, filters=filters, mode=mode))
        assert len(ids) == len(set(ids)) and set(ids) == expected, mode


def test_dense_ranking_is_exact(backend, dense_snapshot, embedder, catalog) -> None:
    """Top-k equals brute-force cosine over the products that pass the filters, with or without a selector."""
    vectors = EmbeddingCache.open(dense_snapshot / "dense").rows(np.arange(len(catalog)))
    selector_path = HybridBackend(
        dense_snapshot, embedder=embedder, search_config=DenseSearchConfig(exact_subset_max=0)
    )
    cases = [
        ("wireless headphones", SearchFilters()),
        ("wireless headphones", SearchFilters(price_max=100)),
        ("gift for a child who likes music", SearchFilters(source="amazon_in")),
        ("graphics card", SearchFilters(price_min=50, category=catalog[0].category_path[0])),
    ]
    for query, filters in cases:
        allowed = np.array([filters.matches(p) for p in catalog])
        scores = vectors @ embedder.encode_query(query)
        for b in (backend, selector_path):
            hits = b.search(
                SearchRequest(query=query, filters=filters, mode=SearchMode.dense, page_size=20)
            ).hits
            ords = [b._ords_of([h.product_id])[0] for h in hits]
            assert len(hits) == min(20, allowed.sum())
            np.testing.assert_allclose([h.score for h in hits], scores[ords], atol=1e-5)
            worst_kept = min(h.score for h in hits)
            left_out = np.ones(len(catalog), dtype=bool)
            left_out[ords] = False
            assert np.all(scores[left_out & allowed] <= worst_kept + 1e-5), (query, filters)


def test_identical_products_tie_and_are_ordered_by_product_id(backend, catalog) -> None:
    copies = sorted(p.product_id for p in catalog if "-copy" in p.product_id)
    original = copies[0].rsplit("-copy", 1)[0]
    twins = sorted([original, *copies])
    title = next(p.title for p in catalog if p.product_id == original)
    for mode in DENSE_MODES:
        hits = backend.search(SearchRequest(query=title, mode=mode, page_size=10)).hits
        ids = [h.product_id for h in hits]
        positions = [ids.index(t) for t in twins]
        assert positions == list(range(positions[0], positions[0] + 4)), (mode, ids)
        assert len({hits[i].score for i in positions}) == 1


def test_lexical_mode_and_empty_queries_are_the_lexical_backend(backend, dense_snapshot) -> None:
    lexical = TantivyBackend(dense_snapshot)
    requests_ = [
        SearchRequest(query="usb cable", page_size=20),
        SearchRequest(query="samsung", filters=SearchFilters(price_max=500), sort=SortOrder.price_asc),
        SearchRequest(query="", mode=SearchMode.dense, filters=SearchFilters(source="bestbuy")),
        SearchRequest(query="   ", mode=SearchMode.hybrid, sort=SortOrder.rating),
    ]
    for request in requests_:
        assert backend.search(request) == lexical.search(
            request.model_copy(update={"mode": SearchMode.lexical})
        )


def test_semantic_query_finds_what_words_do_not(backend) -> None:
    """The reason dense search exists: a paraphrase with no shared title word still finds the product."""
    query = "something to listen to music without wires"
    lexical = backend.search(SearchRequest(query=query, mode=SearchMode.lexical, page_size=5))
    dense = backend.search(SearchRequest(query=query, mode=SearchMode.dense, page_size=5))
    titles = [p.title.lower() for p in backend.get_products([h.product_id for h in dense.hits])]
    assert any(w in t for t in titles for w in ("headphone", "earbud", "speaker", "headset", "earphone")), (
        titles
    )
    assert [h.product_id for h in dense.hits] != [h.product_id for h in lexical.hits]


def test_hybrid_pages_concatenate(backend) -> None:
    for mode in DENSE_MODES:
        request = SearchRequest(query="kitchen storage", mode=mode, page_size=30)
        long = backend.search(request).hits
        pages = [
            backend.search(request.model_copy(update={"page": n, "page_size": 10})).hits for n in (1, 2, 3)
        ]
        assert [h.product_id for page in pages for h in page] == [h.product_id for h in long]


def test_rrf_fusion_mode(dense_snapshot, embedder) -> None:
    rrf = HybridBackend(
        dense_snapshot, embedder=embedder, search_config=DenseSearchConfig(fusion=FusionMethod.rrf, rrf_k=10)
    )
    result = rrf.search(SearchRequest(query="phone case", mode=SearchMode.hybrid, page_size=10))
    assert len(result.hits) == 10
    assert result.hits[0].score <= 2 / 11 + 1e-12  # two lists, each at most 1 / (k + 1)


@pytest.mark.parametrize(
    "name,config",
    [
        ("fp16-flat", DenseConfig(dtype="float16")),
        ("hnsw", DenseConfig(index=IndexKind.hnsw, hnsw_m=8, hnsw_ef_search=16)),
        ("ivf", DenseConfig(index=IndexKind.ivf, ivf_nlist=8, ivf_nprobe=2)),
        ("auto-ann", DenseConfig(ann_threshold=100, dtype="float16")),
    ],
)
def test_every_index_kind_honours_filters_with_full_pages(
    name, config, variant_snapshot, embedder, catalog
) -> None:
    directory = variant_snapshot(name, config)
    backend = HybridBackend(
        directory,
        embedder=embedder,
        search_config=DenseSearchConfig(exact_subset_max=0),  # selector path only
    )
    recorded = backend.dense_manifest
    assert recorded.dtype == config.dtype
    assert recorded.index.kind is (
        IndexKind.hnsw if name == "auto-ann" else config.index if name != "fp16-flat" else IndexKind.flat
    )
    if config.dtype == "float16":
        assert np.load(directory / "dense" / "vectors.npy", mmap_mode="r").dtype == np.float16
    for filters in [
        SearchFilters(),
        SearchFilters(source="webmall"),
        SearchFilters(brands=["Apple", "Samsung"]),
    ]:
        matching = sum(filters.matches(p) for p in catalog)
        for mode in DENSE_MODES:
            result = backend.search(SearchRequest(query="laptop", filters=filters, mode=mode, page_size=50))
            assert len(result.hits) == min(50, matching) and result.total == matching
            assert all(filters.matches(p) for p in backend.get_products([h.product_id for h in result.hits]))


def test_ranked_matches_search(backend, catalog) -> None:
    filters = SearchFilters(price_max=1000)
    for mode in [SearchMode.lexical, *DENSE_MODES]:
        hits, total = backend.ranked("bluetooth speaker", filters, 25, mode)
        page = backend.search(
            SearchRequest(query="bluetooth speaker", filters=filters, mode=mode, page_size=25)
        )
        assert hits == page.hits and total == page.total, mode
