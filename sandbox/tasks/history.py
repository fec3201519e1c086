"""Behaviour histories drawn coherently from a real catalog: what a plausible user viewed and bought.

An anchor product is drawn with the caller's generator; the rest of the history comes from the same category
prefix (the deepest one with enough products), the same currency and a price band around the anchor, with about
half of the items from the anchor's brand when the catalog has them. So a history reads like one person's
shopping session, and a task written from it is grounded in products the catalog really has.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, Field

from sandbox.catalog.backend import CatalogBackend
from sandbox.catalog.product import Product
from sandbox.catalog.search import SearchFilters, SearchRequest
from sandbox.errors import UserError
from sandbox.tasks.feasibility import deepest_category, random_product

if TYPE_CHECKING:
    from sandbox.tasks.persona import InferredPersona

BAND_LOW, BAND_HIGH = 0.5, 1.6
MIN_POOL = 8
MAX_DRAWS = 2000


class HistoryItem(BaseModel):
    product_id: str
    title: str
    brand: str | None = None
    price: Decimal
    currency: str | None = None
    category: str
    event: Literal["viewed", "purchased"]


class BehaviourHistory(BaseModel):
    """One user's session: items in one category prefix and price band, the anchor first."""

    anchor_id: str
    category: str
    currency: str | None = None
    price_low: Decimal
    price_high: Decimal
    items: list[HistoryItem] = Field(min_length=1)

    def purchased(self) -> list[HistoryItem]:
        return [i for i in self.items if i.event == "purchased"]

    def brands(self) -> list[str]:
        return [i.brand for i in self.items if i.brand]


TOO_SMALL_HINT = "use a larger, priced and categorised catalog, e.g. `prgym catalog build --preset bestbuy --out snapshots/small`"


class CatalogTooSmallError(UserError, ValueError):
    """The catalog cannot give the user agent a coherent history (too few priced products per category)."""


def _item(product: Product, event: Literal["viewed", "purchased"]) -> HistoryItem:
    assert product.price is not None
    return HistoryItem(
        product_id=product.product_id,
        title=product.title,
        brand=product.brand,
        price=product.price,
        currency=product.currency,
        category=product.category,
        event=event,
    )


def draw_history(
    backend: CatalogBackend, rng: np.random.Generator, *, viewed: int = 6, purchased: int = 2
) -> BehaviourHistory:
    """A coherent history (anchor + ``viewed`` + ``purchased`` - 1 more items) fully determined by ``rng``."""
    if viewed < 0 or purchased < 1:
        raise ValueError("viewed must be >= 0 and purchased >= 1")
    for _ in range(MAX_DRAWS):
        anchor = random_product(backend, rng)
        if anchor is None or anchor.price is None or anchor.price <= 0 or not anchor.category_path:
            continue
        category = deepest_category(backend, anchor, need=MIN_POOL * 2)
        if category is None:
            continue
        price = float(anchor.price)
        filters = SearchFilters(category=category, price_min=price * BAND_LOW, price_max=price * BAND_HIGH)
        ids = [
            h.product_id for h in backend.search(SearchRequest(query="", filters=filters, page_size=100)).hits
        ]
        pool = [
            p
            for p in backend.get_products(ids)
            if p is not None
            and p.price is not None
            and p.currency == anchor.currency
            and p.product_id != anchor.product_id
        ]
        if len(pool) < MIN_POOL:
            continue
        same_brand = [p for p in pool if anchor.brand and p.brand == anchor.brand]
        others = [p for p in pool if p not in same_brand]
        wanted = viewed + purchased - 1
        from_brand = min(len(same_brand), wanted // 2)
        picks = (
            [same_brand[i] for i in rng.choice(len(same_brand), size=from_brand, replace=False)]
            if from_brand
            else []
        )
        rest = min(len(others), wanted - from_brand)
        picks += [others[i] for i in rng.choice(len(others), size=rest, replace=False)] if rest else []
        items = [_item(anchor, "purchased")]
        items += [_item(p, "purchased" if k < purchased - 1 else "viewed") for k, p in enumerate(picks)]
        return BehaviourHistory(
            anchor_id=anchor.product_id,
            category=category,
            currency=anchor.currency,
            price_low=Decimal(str(round(price * BAND_LOW, 2))),
            price_high=Decimal(str(round(price * BAND_HIGH, 2))),
            items=items,
        )
    raise CatalogTooSmallError(
        f"no coherent shopping history found in {MAX_DRAWS} draws: tasks need priced products in a category "
        f"shared by at least {MIN_POOL * 2} products, {MIN_POOL} of them in the anchor's price band",
        hint=TOO_SMALL_HINT,
    )


@dataclass(frozen=True)
class TaskDraw:
    """What the generator hands a writer for one task: the catalog, the drawn history and its persona, the
    task's own generator (a writer may draw from it; the template's weights do) and the task's id."""

    backend: CatalogBackend
    history: BehaviourHistory
    persona: InferredPersona
    rng: np.random.Generator
    task_id: str
    min_products: int = 3
