"""The agent's tools on the real small catalog: schemas, search, visit, answers, and errors as observations."""

from __future__ import annotations

import json
from decimal import Decimal

from sandbox.catalog.lexical import TantivyBackend
from sandbox.catalog.search import SearchMode, SearchRequest, SearchResult
from sandbox.tools.answer_tools import AnswerTools
from sandbox.tools.registry import ToolRegistry
from sandbox.tools.toolset import build_toolset


def test_schemas_come_from_signatures_and_tools_are_tagged(backend) -> None:
    research = build_toolset(backend, task_kind="research")
    shopping = build_toolset(backend, task_kind="shopping")
    assert research.names == ["product_search", "visit_product", "calculate", "submit_report"]
    assert shopping.names[-1] == "recommend_products"
    assert {n: research.access(n) for n in research.names} == {
        "product_search": "read",
        "visit_product": "read",
        "calculate": "read",
        "submit_report": "write",
    }
    schema = {s["function"]["name"]: s["function"] for s in research.schemas()}
    search = schema["product_search"]
    assert search["parameters"]["required"] == ["query"]
    assert set(search["parameters"]["properties"]) == {"query", "filters", "sort", "page", "mode"}
    assert "price_max" in json.dumps(search["parameters"]["$defs"]["SearchFilters"])
    assert search["parameters"]["properties"]["page"]["maximum"] == 50
    assert schema["visit_product"]["parameters"]["properties"]["product_ids"]["maxItems"] == 20
    assert schema["submit_report"]["description"].startswith("Submit the final research report")


def test_product_search_hits_honour_filters(backend) -> None:
    registry = build_toolset(backend, task_kind="research")
    args = {
        "query": "samsung galaxy",
        "filters": {"category": "Cell Phones", "price_max": 300},
        "sort": "price_asc",
    }
    outcome = registry.call("product_search", json.dumps(args))
    assert outcome.ok, outcome.content
    page = json.loads(outcome.content)
    assert page["total"] >= len(page["hits"]) > 0
    prices = [hit["price"] for hit in page["hits"]]
    assert prices == sorted(prices) and max(prices) <= 300
    for hit in page["hits"]:
        assert set(hit) >= {"id", "title", "price", "currency", "category"}
        assert hit["category"].startswith("Cell Phones")
        (product,) = backend.get_products([hit["id"]])
        assert product is not None and product.price == Decimal(str(hit["price"]))


def test_product_search_pages_and_empty_results(backend) -> None:
    registry = build_toolset(backend, task_kind="research")
    first = json.loads(registry.call("product_search", {"query": "usb cable"}).content)
    second = json.loads(registry.call("product_search", {"query": "usb cable", "page": 2}).content)
    assert first["total"] > 10 and {h["id"] for h in first["hits"]}.isdisjoint(
        {h["id"] for h in second["hits"]}
    )
    nothing = json.loads(registry.call("product_search", {"query": "zzqxjv flurbozorg"}).content)
    assert nothing["total"] == 0 and nothing["hits"] == [] and "relax the filters" in nothing["note"]


def test_dense_mode_on_a_lexical_backend_is_a_tool_error(backend) -> None:
    registry = build_toolset(backend, task_kind="research")
    outcome = registry.call("product_search", {"query": "laptop", "mode": "dense"})
    assert not outcome.ok and outcome.error_kind == "tool_error"
    error = json.loads(outcome.content)
    assert "mode 'dense' is not available" in error["error"] and error["field"] == "mode"


class _ModeRecordingBackend(TantivyBackend):
    """The real tantivy backend, declaring every mode and remembering the last request it answered."""

    supported_modes = ("lexical", "dense", "hybrid")

    def search(self, request: SearchRequest) -> SearchResult:
        self.last_request = request
        return super().search(request)


def test_mode_is_passed_through_to_a_backend_that_has_it(small_snapshot) -> None:
    recording = _ModeRecordingBackend(small_snapshot)
    registry = build_toolset(recording, task_kind="research")
    outcome = registry.call("product_search", {"query": "laptop", "mode": "hybrid"})
    assert outcome.ok
    assert recording.last_request.mode is SearchMode.hybrid


def test_visit_product_reports_unknown_ids_one_by_one(backend) -> None:
    registry = build_toolset(backend, task_kind="research")
    hit = json.loads(registry.call("product_search", {"query": "violin bow"}).content)["hits"][0]
    outcome = registry.call(
        "visit_product", {"product_ids": [hit["id"], "bestbuy:0", "4984700", "[P:bestbuy:1]"]}
    )
    assert not outcome.ok and outcome.error_kind == "unknown_product_id"
    body = json.loads(outcome.content)
    assert [p["id"] for p in body["products"]] == [hit["id"]]
    assert body["products"][0]["title"] == hit["title"]
    errors = {e["id"]: e["error"] for e in body["not_found"]}
    assert set(errors) == {"bestbuy:0", "4984700", "[P:bestbuy:1]"}
    assert "source-qualified" in errors["4984700"]
    assert "citation wrapper" in errors["[P:bestbuy:1]"]
    assert "3 of 4 product ids" in body["error"]


def test_visit_product_full_record(backend) -> None:
    registry = build_toolset(backend, task_kind="research")
    outcome = registry.call(
        "visit_product", {"product_ids": ["shoppingbench:3706669986"], "goal": "size options"}
    )
    assert outcome.ok
    (record,) = json.loads(outcome.content)["products"]
    assert record["brand"] == "HEART STRING" and record["price"] == 256 and record["currency"] == "PHP"
    assert {"size": "4/4 violin bow"} in record["options"]
    assert "COD" in record["services"] and record["attributes"]["brand"] == ["heart string"]


def test_answer_tools(backend) -> None:
    answers = AnswerTools(backend)
    registry = build_toolset(backend, task_kind="shopping")
    bad = registry.call("recommend_products", {"product_ids": ["shoppingbench:3706669986", "nope:1"]})
    assert not bad.ok and "nope:1" in bad.error
    ok = registry.call("recommend_products", {"product_ids": [" shoppingbench:3706669986 "]})
    assert ok.ok and json.loads(ok.content) == {"product_ids": ["shoppingbench:3706669986"]}
    receipt = answers.submit_report("A [P:a] and [P:b], again [P:a]; see [W:https://example.org/x].")
    assert (receipt.product_citations, receipt.distinct_products, receipt.web_citations) == (3, 2, 1)


def test_registry_turns_every_mistake_into_an_error_observation(backend) -> None:
    registry: ToolRegistry = build_toolset(backend, task_kind="research")
    cases = {
        "unknown_tool": registry.call("buy_now", "{}"),
        "bad_json": registry.call("product_search", '{"query": "x",'),
        "bad_arguments": registry.call("product_search", "[1, 2]"),
        "invalid_arguments": registry.call("product_search", {"query": 5}),
    }
    for kind, outcome in cases.items():
        assert not outcome.ok and outcome.error_kind == kind
        body = json.loads(outcome.content)
        assert body["error_kind"] == kind and body["error"]
    assert "available tools: product_search, visit_product" in cases["unknown_tool"].error
    assert "line 1 column" in cases["bad_json"].error
    assert "'query'" in cases["invalid_arguments"].error
    extra = registry.call("product_search", {"query": "x", "limit": 5})
    assert "'limit' is not a parameter of product_search" in extra.error
    missing = registry.call("visit_product", {})
    assert "'product_ids' is required" in missing.error
    huge = registry.call("product_search", json.dumps({"query": "x" * 200_000}))
    assert huge.error_kind == "bad_arguments" and "limit" in huge.error
