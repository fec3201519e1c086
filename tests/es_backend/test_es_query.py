"""Request bodies built from SearchRequests, compared with bodies written from the Elasticsearch reference docs.

Each expected body follows the documented form of its query (Query DSL: range, terms, term, prefix, bool,
match_all, multi_match; "Paginate search results": search_after with a tie-breaker sort; "k-nearest neighbor
search": knn with filter; track_total_hits). Running everywhere, they pin what the backend will send a cluster.
"""

from __future__ import annotations

import pytest

from sandbox.catalog import SearchFilters, SortOrder
from sandbox.catalog.elasticsearch import query as q
from sandbox.catalog.elasticsearch.mapping import document, index_mapping, index_name, index_settings
from sandbox.catalog.lexical import FIELD_BOOSTS
from sandbox.catalog.product import Product

ID_TIE = {"product_id": {"order": "asc"}}


def test_price_range_is_a_range_query_with_inclusive_bounds() -> None:
    assert q.filter_clauses(SearchFilters(price_min=10, price_max=99.5)) == [
        {"range": {"price": {"gte": 10.0, "lte": 99.5}}}
    ]
    assert q.filter_clauses(SearchFilters(price_max=20)) == [{"range": {"price": {"lte": 20.0}}}]
    assert q.filter_clauses(SearchFilters(min_rating=4.5)) == [{"range": {"rating": {"gte": 4.5}}}]


def test_brands_are_one_terms_query_of_normalized_keys() -> None:
    f = SearchFilters(brands=["Sony", "  LG  Electronics", "sony"])
    assert q.filter_clauses(f) == [{"terms": {"brand_key": ["lg electronics", "sony"]}}]


def test_category_is_a_nested_bool_of_term_or_level_prefix_on_the_keyword_path() -> None:
    f = SearchFilters(category="Electronics / Audio")
    assert q.filter_clauses(f) == [
        {
            "bool": {
                "should": [
                    {"term": {"category_key": "electronics > audio"}},
                    {"prefix": {"category_key": "electronics > audio > "}},
                ],
                "minimum_should_match": 1,
            }
        }
    ]


def test_every_service_is_required_and_exact_filters_are_terms() -> None:
    f = SearchFilters(services=["Free Shipping", "COD"], shop_id="Shop 7", in_stock=False, source="BestBuy")
    assert q.filter_clauses(f) == [
        {"term": {"shop_key": "shop 7"}},
        {"term": {"service_key": "cod"}},
        {"term": {"service_key": "free shipping"}},
        {"term": {"in_stock": False}},
        {"term": {"source_key": "bestbuy"}},
    ]


def test_every_filter_field_has_a_clause() -> None:
    every = SearchFilters(
        price_min=1,
        price_max=2,
        brands=["a"],
        category="c",
        shop_id="s",
        min_rating=1,
        services=["x"],
        in_stock=True,
        source="src",
    )
    assert (
        len(q.filter_clauses(every)) == len(SearchFilters.model_fields) - 1
    )  # price_min/max share one range


def test_text_query_uses_the_embedded_field_boosts_summed_over_fields() -> None:
    assert q.text_query("usb cable") == {
        "multi_match": {
            "query": "usb cable",
            "type": "most_fields",
            "operator": "or",
            "fields": ["title^2.0", "brand^1.5", "category^1.0", "attributes^0.6", "description^0.3"],
        }
    }
    assert [f.split("^")[0] for f in q.text_query("x")["multi_match"]["fields"]] == list(FIELD_BOOSTS)


def test_search_body_with_text_and_filters() -> None:
    body = q.search_body(
        "wireless headphones", SearchFilters(price_max=100), SortOrder.relevance, size=10, from_=20
    )
    assert body == {
        "query": {
            "bool": {
                "must": [q.text_query("wireless headphones")],
                "filter": [{"range": {"price": {"lte": 100.0}}}],
            }
        },
        "sort": [{"_score": {"order": "desc"}}, ID_TIE],
        "size": 10,
        "from": 20,
        "track_total_hits": True,
        "_source": q.HIT_SOURCE,
    }


@pytest.mark.parametrize("text", ["", "   ", "!!! ...", "x" * 45])
def test_a_query_without_terms_browses_in_id_order(text: str) -> None:
    body = q.search_body(text, SearchFilters(), SortOrder.relevance, size=5)
    assert body["query"] == {"match_all": {}}
    assert body["sort"] == [{"product_id": "asc"}]
    filtered = q.search_body(text, SearchFilters(source="a"), SortOrder.relevance, size=5)
    assert filtered["query"] == {"bool": {"filter": [{"term": {"source_key": "a"}}]}}


@pytest.mark.parametrize(
    ("sort", "field", "order"),
    [
        (SortOrder.price_asc, "price", "asc"),
        (SortOrder.price_desc, "price", "desc"),
        (SortOrder.rating, "rating", "desc"),
        (SortOrder.popularity, "popularity", "desc"),
    ],
)
def test_field_orders_put_missing_values_last_and_break_ties_by_id(sort, field, order) -> None:
    assert q.sort_clauses(sort, scored=True) == [{field: {"order": order, "missing": "_last"}}, ID_TIE]
    assert q.sort_clauses(sort, scored=False) == q.sort_clauses(sort, scored=True)


def test_search_after_replaces_from_for_deep_pages() -> None:
    body = q.search_body(
        "tv", SearchFilters(), SortOrder.price_asc, size=10, search_after=[499.99, "bestbuy:1"]
    )
    assert body["search_after"] == [499.99, "bestbuy:1"]
    assert "from" not in body
    assert body["sort"] == [{"price": {"order": "asc", "missing": "_last"}}, ID_TIE]


def test_knn_with_filter_follows_the_documented_shape() -> None:
    body = q.knn_body([0.1, 0.2], SearchFilters(brands=["Sony"], price_max=50), k=10, num_candidates=100)
    assert body == {
        "knn": {
            "field": "embedding",
            "query_vector": [0.1, 0.2],
            "k": 10,
            "num_candidates": 100,
            "filter": [{"range": {"price": {"lte": 50.0}}}, {"terms": {"brand_key": ["sony"]}}],
        },
        "size": 10,
        "_source": q.HIT_SOURCE,
    }
    unfiltered = q.knn_body([1.0], SearchFilters(), k=500, num_candidates=100)["knn"]
    assert "filter" not in unfiltered and unfiltered["num_candidates"] == 500  # num_candidates >= k


def test_count_cosine_and_values_bodies() -> None:
    assert q.count_body(SearchFilters()) == {"query": {"match_all": {}}, "size": 0, "track_total_hits": True}
    script = q.cosine_body([0.5], [3, 1])["query"]["script_score"]
    assert script["query"] == {"terms": {"ord": [3, 1]}}
    assert script["script"]["source"] == "cosineSimilarity(params.query_vector, 'embedding') + 1.0"
    assert q.values_body([4])["query"] == {"terms": {"ord": [4]}}


def test_mapping_documents_and_names() -> None:
    assert index_name("prgym-catalog", "cat-ABC") == "prgym-catalog-cat-abc"
    mapping = index_mapping(dimension=384, meta={"snapshot_id": "cat-1"})
    props = mapping["properties"]
    assert mapping["dynamic"] == "strict" and mapping["_meta"]["snapshot_id"] == "cat-1"
    assert props["price"] == {"type": "double"} and props["brand_key"] == {"type": "keyword"}
    assert props["embedding"] == {
        "type": "dense_vector",
        "dims": 384,
        "index": True,
        "similarity": "cosine",
        "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100},
    }
    assert {props[f]["analyzer"] for f in FIELD_BOOSTS} == {"prgym_en"}
    assert "embedding" not in index_mapping(dimension=None, meta={})["properties"]
    analyzer = index_settings()["analysis"]["analyzer"]["prgym_en"]
    assert analyzer["filter"] == ["prgym_max_len", "lowercase", "asciifolding", "prgym_porter2"]

    product = Product(
        product_id="x:1",
        title="Sony  WH-1000XM5",
        source="X",
        brand="Sony",
        category_path=["Audio", "Headphones"],
        price="348.00",
        services=["COD", "cod"],
        in_stock=True,
        rating=4.5,
    )
    doc = document(7, product, [0.0, 1.0])
    assert doc["ord"] == 7 and doc["price"] == 348.0 and doc["category_key"] == "audio > headphones"
    assert doc["service_key"] == ["cod"] and doc["source_key"] == "x" and doc["embedding"] == [0.0, 1.0]
    assert "shop_key" not in doc and "popularity" not in doc  # unknown values are absent, never invented
    assert Product.model_validate(doc["record"]) == product
