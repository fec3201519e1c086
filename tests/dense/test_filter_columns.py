"""Filter columns on the real ~15k-product snapshot: every mask equals ``SearchFilters.matches`` product by product.

No model is needed here: this is the part of dense search that decides which products may be returned at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.catalog import Product, SearchFilters
from sandbox.catalog.dense.filter_columns import FilterColumns
from sandbox.catalog.snapshot import Snapshot


@pytest.fixture(scope="module")
def catalog(small_snapshot: Path) -> list[Product]:
    return [p for _, p in Snapshot(small_snapshot).store.iter_products()]


@pytest.fixture(scope="module")
def columns(catalog: list[Product], tmp_path_factory: pytest.TempPathFactory) -> FilterColumns:
    """Built, saved and loaded again: the tests check what a backend reads from disk."""
    built = FilterColumns.from_products(enumerate(catalog))
    directory = tmp_path_factory.mktemp("columns")
    built.save(directory)
    return FilterColumns.load(directory)


@pytest.fixture(scope="module")
def vocab(catalog: list[Product]) -> dict[str, list]:
    brands = sorted({p.brand for p in catalog if p.brand})
    return {
        # Real values, in other spellings too: filters are case- and space-insensitive.
        "brands": brands[::5][:300] + [b.upper() for b in brands[:20]] + ["No Such Brand"],
        "categories": sorted(
            {" > ".join(p.category_path[: i + 1]) for p in catalog for i in range(len(p.category_path))}
        )[::3][:300]
        + ["electronics / computers", "Nope > Nothing"],
        "shops": sorted({p.shop_id for p in catalog if p.shop_id}) + ["no-shop"],
        "services": sorted({s for p in catalog for s in p.services}) + ["cod ", "teleport"],
        "sources": sorted({p.source for p in catalog}) + ["BestBuy", "elsewhere"],
    }


@st.composite
def filters(draw, vocab) -> SearchFilters:
    low = draw(st.one_of(st.none(), st.floats(0, 3000), st.sampled_from([0.0, 19.99, 99.99, 100.0])))
    high = draw(st.one_of(st.none(), st.floats(0, 200_000), st.sampled_from([19.99, 100.0, 999.0])))
    if low is not None and high is not None and low > high:
        low, high = high, low
    every = {
        "price_min": low,
        "price_max": high,
        "brands": draw(st.lists(st.sampled_from(vocab["brands"]), min_size=1, max_size=4)),
        "category": draw(st.sampled_from(vocab["categories"])),
        "shop_id": draw(st.sampled_from(vocab["shops"])),
        "min_rating": draw(st.sampled_from([0.0, 1.0, 3.5, 4.2, 4.5, 5.0])),
        "services": draw(st.lists(st.sampled_from(vocab["services"]), min_size=1, max_size=2)),
        "in_stock": draw(st.booleans()),
        "source": draw(st.sampled_from(vocab["sources"])),
    }
    keep = draw(st.sets(st.sampled_from(sorted(every)), max_size=4))
    return SearchFilters(**{k: v for k, v in every.items() if k in keep})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mask_equals_reference_filter(catalog, columns, vocab, data) -> None:
    flt = data.draw(filters(vocab))
    mask = columns.mask(flt)
    expected = np.fromiter((flt.matches(p) for p in catalog), dtype=bool, count=len(catalog))
    if mask is None:
        assert flt.is_empty() or expected.all()
        assert expected.all()
    else:
        mismatched = np.flatnonzero(mask != expected)
        assert len(mismatched) == 0, (flt, [catalog[i] for i in mismatched[:2]])


def test_every_filter_field_selects_something_and_not_everything(catalog, columns, vocab) -> None:
    """Guards the property test against vacuity: each field really narrows this catalog."""
    cases = [
        SearchFilters(price_max=50),
        SearchFilters(price_min=100, price_max=300),
        SearchFilters(brands=[vocab["brands"][0]]),
        SearchFilters(category=vocab["categories"][0]),
        SearchFilters(shop_id=vocab["shops"][0]),
        SearchFilters(min_rating=4.0),
        SearchFilters(services=[vocab["services"][0]]),
        SearchFilters(in_stock=True),  # (no product of this catalog is known to be out of stock)
        SearchFilters(source="bestbuy"),
    ]
    for flt in cases:
        mask = columns.mask(flt)
        assert mask is not None
        assert 0 < mask.sum() < len(catalog), flt
        assert mask.sum() == sum(flt.matches(p) for p in catalog), flt


def test_no_filter_means_no_mask(columns) -> None:
    assert columns.mask(SearchFilters()) is None


def test_products_must_arrive_in_ordinal_order(catalog) -> None:
    from sandbox.catalog.dense.filter_columns import FilterColumnsBuilder

    builder = FilterColumnsBuilder()
    builder.add(0, catalog[0])
    with pytest.raises(ValueError, match="ordinal order"):
        builder.add(2, catalog[1])
