"""Response parsing on bodies in the documented format: hits, totals (eq / gte), errors, shard failures."""

from __future__ import annotations

import pytest

from sandbox.catalog.elasticsearch.errors import EsRequestError, EsTimeoutError
from sandbox.catalog.elasticsearch.response import (
    bulk_failure,
    error_message,
    parse_mget,
    parse_msearch,
    parse_search,
)

SHARDS_OK = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}


def search_response(hits, total=2, relation="eq", **extra):
    return {
        "took": 5,
        "timed_out": False,
        "_shards": SHARDS_OK,
        "hits": {"total": {"value": total, "relation": relation}, "max_score": 1.3, "hits": hits},
        **extra,
    }


HITS = [
    {
        "_index": "i",
        "_id": "a:1",
        "_score": 1.3,
        "_source": {"product_id": "a:1", "ord": 0},
        "sort": [1.3, "a:1"],
    },
    {
        "_index": "i",
        "_id": "a:2",
        "_score": None,
        "_source": {"product_id": "a:2", "ord": 1},
        "sort": [9.5, "a:2"],
    },
]


def test_hits_and_exact_total() -> None:
    page = parse_search(search_response(HITS))
    assert page.total == 2
    assert [(h.product_id, h.score, h.sort, h.ord) for h in page.hits] == [
        ("a:1", 1.3, [1.3, "a:1"], 0),
        ("a:2", None, [9.5, "a:2"], 1),
    ]


def test_a_lower_bound_total_is_refused() -> None:
    with pytest.raises(EsRequestError, match="lower bound"):
        parse_search(search_response(HITS, total=10000, relation="gte"))


def test_timed_out_and_failed_shards_are_errors_not_short_pages() -> None:
    with pytest.raises(EsTimeoutError, match="partial"):
        parse_search(search_response(HITS, timed_out=True))
    failed = search_response(HITS)
    failed["_shards"] = {
        "total": 2,
        "successful": 1,
        "skipped": 0,
        "failed": 1,
        "failures": [
            {
                "shard": 1,
                "index": "prgym-catalog-cat-1",
                "node": "n1",
                "reason": {"type": "query_shard_exception", "reason": "failed to create query"},
            }
        ],
    }
    with pytest.raises(
        EsRequestError, match="1 of 2 shards failed: shard 1 of prgym-catalog-cat-1: query_shard"
    ):
        parse_search(failed)


def test_error_bodies_read_as_one_line() -> None:
    body = {
        "error": {
            "root_cause": [{"type": "index_not_found_exception", "reason": "no such index [x]"}],
            "type": "index_not_found_exception",
            "reason": "no such index [x]",
        },
        "status": 404,
    }
    assert error_message(body) == "index_not_found_exception: no such index [x] (HTTP 404)"
    nested = {
        "error": {
            "root_cause": [{"type": "parsing_exception", "reason": "unknown query [x]"}],
            "type": "search_phase_execution_exception",
            "reason": "all shards failed",
            "caused_by": {"type": "too_many_clauses", "reason": "maxClauseCount is set to 1024"},
        },
        "status": 400,
    }
    assert error_message(nested) == (
        "search_phase_execution_exception: all shards failed; parsing_exception: unknown query [x]; "
        "caused by too_many_clauses: maxClauseCount is set to 1024 (HTTP 400)"
    )


def test_msearch_items_and_item_errors() -> None:
    ok = search_response(HITS) | {"status": 200}
    assert parse_msearch({"took": 3, "responses": [ok, ok]}) == [ok, ok]
    bad = {
        "error": {"type": "illegal_argument_exception", "reason": "k must be <= num_candidates"},
        "status": 400,
    }
    with pytest.raises(EsRequestError, match="k must be") as info:
        parse_msearch({"responses": [ok, bad]})
    assert info.value.status == 400 and info.value.error_type == "illegal_argument_exception"


def test_mget_keeps_order_and_none_for_missing() -> None:
    body = {
        "docs": [
            {
                "_index": "i",
                "_id": "a:2",
                "_version": 1,
                "found": True,
                "_source": {"record": {"product_id": "a:2"}},
            },
            {"_index": "i", "_id": "nope", "found": False},
        ]
    }
    assert parse_mget(body, ["a:2", "nope"]) == [{"product_id": "a:2"}, None]
    with pytest.raises(EsRequestError):
        parse_mget(body, ["a:2"])


def test_bulk_item_failure_is_reported_with_its_reason() -> None:
    item = {
        "index": {
            "_index": "i",
            "_id": "a:9",
            "status": 400,
            "error": {"type": "document_parsing_exception", "reason": "failed to parse field [price]"},
        }
    }
    assert bulk_failure(item) == (
        "a:9",
        "index failed with HTTP 400: document_parsing_exception: failed to parse field [price]",
    )
