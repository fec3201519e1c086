"""What the task generator asks the catalog: a random product, a category wide enough, feasible products, a budget.

Every research task is checked against the catalog it is written for (at least ``min_products`` + 1 products meet
all its hard constraints), so a task never asks for what the catalog does not have. These helpers are the only
catalog reads the generator does; the writers (template or LLM) go through them too.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from sandbox.catalog.backend import CatalogBackend
from sandbox.catalog.product import Product
from sandbox.catalog.search import SearchFilters, SearchRequest, SortOrder
from sandbox.tasks.models import HardConstraints

_NICE_UNITS = (5, 2.5, 2, 1, 0.5, 0.25, 0.2, 0.1)  # multiples of the power of ten, coarsest first


def nice_budget(amount: float) -> Decimal:
    """Round ``amount`` up to a number a person would say: 37 -> 40, 1234 -> 1250, 48.5 -> 50.

    The coarsest round unit whose next multiple is at most 12% above ``amount`` wins.
    """
    if amount <= 0:
        return Decimal(1)
    magnitude = 10 ** math.floor(math.log10(amount))
    for factor in _NICE_UNITS:
        unit = factor * magnitude
        candidate = math.ceil(amount / unit - 1e-9) * unit
        if (candidate - amount) / amount <= 0.12:
            return _plain(candidate)
    return Decimal(math.ceil(amount))


def _plain(value: float) -> Decimal:
    """A Decimal without exponent or trailing zeros: 3400.0 -> Decimal('3400'), 2.50 -> Decimal('2.5')."""
    rounded = round(value, 2)
    if rounded == int(rounded):
        return Decimal(int(rounded))
    return Decimal(f"{rounded:.2f}".rstrip("0"))


def random_product(backend: CatalogBackend, rng: np.random.Generator) -> Product | None:
    """A uniformly drawn product: by ordinal when the backend exposes its store, else by browsing a page."""
    size = len(backend)
    if size == 0:
        return None
    store = getattr(getattr(backend, "snapshot", None), "store", None)
    if store is not None and hasattr(store, "get_by_ords"):
        return store.get_by_ords([int(rng.integers(size))])[0]
    page = int(rng.integers(min(size, 10_000))) + 1
    result = backend.search(SearchRequest(query="", page=page, page_size=1))
    if not result.hits:
        return None
    return backend.get_products([result.hits[0].product_id])[0]


def count_products(backend: CatalogBackend, filters: SearchFilters) -> int:
    """How many catalog products pass ``filters`` (the backend's total, one hit read)."""
    return backend.search(SearchRequest(query="", filters=filters, page_size=1)).total


def deepest_category(backend: CatalogBackend, product: Product, need: int) -> str | None:
    """The deepest prefix of ``product``'s category path shared by at least ``need`` products (None: none is)."""
    path = list(product.category_path)
    while path:
        category = " > ".join(path)
        if count_products(backend, SearchFilters(category=category)) >= need:
            return category
        path.pop()
    return None


def feasible_products(
    backend: CatalogBackend, constraints: HardConstraints, limit: int = 50
) -> list[Product]:
    """Products among the top ``limit`` filtered hits that meet every hard constraint."""
    query = " ".join(constraints.must_have)
    request = SearchRequest(
        query=query, filters=constraints.to_filters(), sort=SortOrder.relevance, page_size=min(limit, 100)
    )
    ids = [hit.product_id for hit in backend.search(request).hits]
    return [p for p in backend.get_products(ids) if p is not None and constraints.satisfied_by(p)]
