"""A sorted search orders the relevant matches only; a query with no searchable words says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.catalog import SearchFilters, SearchRequest, SortOrder
from sandbox.catalog.lexical import TantivyBackend
from sandbox.catalog.search import SearchMode
from sandbox.catalog.sorted_search import NO_TERMS_NOTE, SortedSearchPolicy, select_for_sort


def test_select_for_sort_prefers_all_terms_then_floor() -> None:
    policy = SortedSearchPolicy(min_all_terms=2, min_keep=0, lexical_floor=0.5)
    scores = [10.0, 9.0, 8.0, 4.0, 1.0]
    # Enough hits hold every term: only those (and above the floor) sort.
    assert select_for_sort(scores, [True, False, True, True, False], policy) == [0, 2]
    # Too few: the relevance floor alone decides.
    assert select_for_sort(scores, [True, False, False, False, False], policy) == [0, 1, 2]
    assert select_for_sort(scores, None, policy) == [0, 1, 2]
    # min_keep keeps the most relevant few even below the floor; the policy off keeps everything.
    assert select_for_sort(scores, None, policy.model_copy(update={"min_keep": 4})) == [0, 1, 2, 3]
    assert select_for_sort(scores, None, SortedSearchPolicy.off()) == [0, 1, 2, 3, 4]
    # Per-mode floors: dense cosines sit close together, so their floor is higher.
    assert select_for_sort([0.6, 0.55, 0.4], None, policy, SearchMode.dense) == [0, 1]
    assert select_for_sort([], None, policy) == []


def test_sorted_search_orders_relevant_matches_only(small_snapshot: Path) -> None:
    """The README's example: the old rule sorted every product matching *any* word of 'usb c charger'."""
    request = SearchRequest(
        query="usb c charger", filters=SearchFilters(price_max=30), sort=SortOrder.price_asc
    )
    new = TantivyBackend(small_snapshot)
    old = TantivyBackend(small_snapshot, sorted_policy=SortedSearchPolicy.off())
    policy = new.sorted_policy
    ranked = new.search(request.model_copy(update={"sort": SortOrder.relevance, "page_size": 100})).hits
    allowed = {
        h.product_id
        for i, h in enumerate(ranked)
        if h.score >= policy.lexical_floor * ranked[0].score or i < 10
    }
    result = new.search(request.model_copy(update={"page_size": 100}))
    assert {h.product_id for h in result.hits} <= allowed
    old_result = old.search(request.model_copy(update={"page_size": 100}))
    assert not {h.product_id for h in old_result.hits} <= allowed
    prices = [h.score for h in result.hits]
    assert prices == sorted(prices) and max(prices) <= 30
    assert 10 <= result.total < old_result.total


def test_all_terms_win_when_enough_products_hold_them(small_snapshot: Path) -> None:
    backend = TantivyBackend(small_snapshot)
    request = SearchRequest(query="usb charger", sort=SortOrder.price_asc, page_size=50)
    terms = set(backend.analyze(request.query))
    for product in backend.get_products([h.product_id for h in backend.search(request).hits]):
        assert product is not None
        text = " ".join(
            [product.title, product.brand or "", " ".join(product.category_path), product.description or ""]
            + [" ".join(v) for v in product.attributes.values()]
            + product.bullet_points
        )
        assert terms <= set(backend.analyze(text)), product.title


def test_relevance_order_is_unchanged_by_the_rule(small_snapshot: Path) -> None:
    request = SearchRequest(query="usb c charger", page_size=50)
    new = TantivyBackend(small_snapshot).search(request)
    old = TantivyBackend(small_snapshot, sorted_policy=SortedSearchPolicy.off()).search(request)
    assert new == old


@pytest.mark.parametrize("query", ["₹", "x" * 5000, "!!! ---"])
def test_query_with_no_searchable_words_says_so(small_snapshot: Path, query: str) -> None:
    backend = TantivyBackend(small_snapshot)
    for sort in (SortOrder.relevance, SortOrder.price_asc):
        result = backend.search(SearchRequest(query=query, sort=sort))
        assert result.total == 0 and result.hits == [] and result.note == NO_TERMS_NOTE
    browse = backend.search(SearchRequest(query="", filters=SearchFilters(price_max=10)))
    assert browse.total > 0 and browse.note is None


def test_cli_says_when_nothing_is_searchable_or_the_page_is_past_the_end(small_snapshot: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    runner = CliRunner()
    empty = runner.invoke(
        app, ["catalog", "search", "--catalog", str(small_snapshot), "₹"], env={"COLUMNS": "200"}
    )
    assert empty.exit_code == 0 and "no searchable words" in empty.output
    past = runner.invoke(
        app,
        ["catalog", "search", "--catalog", str(small_snapshot), "charger", "--page", "99999"],
        env={"COLUMNS": "200"},
    )
    assert past.exit_code == 0 and "page 99999 is past the end" in past.output
