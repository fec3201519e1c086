"""One search hop: a page of hits costs one SQLite query for its ids and one for its products, not 2 x N."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.catalog import SearchRequest
from sandbox.catalog.lexical import TantivyBackend
from sandbox.catalog.store import ProductStore


def _count_queries(store: ProductStore) -> list[str]:
    statements: list[str] = []
    store._connection().set_trace_callback(statements.append)
    return statements


@pytest.fixture()
def backend(small_snapshot: Path) -> TantivyBackend:
    return TantivyBackend(small_snapshot)  # a fresh store: its product cache starts empty


def test_a_search_page_reads_ids_in_one_query_and_products_in_one(backend: TantivyBackend) -> None:
    store = backend.snapshot.store
    statements = _count_queries(store)
    result = backend.search(SearchRequest(query="laptop", page_size=10))
    ids = [hit.product_id for hit in result.hits]
    assert len(ids) == 10
    products = backend.get_products(ids)
    assert [p.product_id for p in products if p is not None] == ids
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, selects
    statements.clear()
    assert backend.get_products(ids) == products  # the page again: from the cache, no query
    assert statements == []


def test_ordinal_lookups_keep_order_duplicates_and_errors(backend: TantivyBackend) -> None:
    store = backend.snapshot.store
    ords = [5, 0, 5, len(store) - 1]
    ids = store.id_at(ords)
    assert ids[0] == ids[2] and ids == [p.product_id for p in store.get_by_ords(ords)]
    assert ids[1] < ids[0] < ids[3]  # ordinals are ascending id order
    assert store.get(["nope:1", ids[1]])[0] is None and store.get([ids[1]])[0].product_id == ids[1]  # type: ignore[union-attr]
    with pytest.raises(IndexError, match="outside the store"):
        store.id_at([len(store)])
