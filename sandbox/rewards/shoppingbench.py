"""ShoppingBench's success rules, reproduced from the published evaluation (facts, not code).

Per recommended item against its target (``r_pro``):

* the exact target product id scores 1;
* otherwise ``r_pro = hits / total`` where each target title counts once (hit when the title similarity is at
  least 0.5), each price range once (``less than``: ``price <= high``; ``greater than``: ``price >= low``;
  ``between``: ``low <= price <= high``, inclusive), each required service once, and each sampled
  ``(name, value)`` of options and attributes once (hit when the pair is among the product's attributes or
  among the options of one of its SKUs; the best SKU counts).

A task succeeds when every item has ``r_pro = 1`` and, for shop tasks, all items come from one shop; for
voucher tasks, the total must fit the budget: directly, or after the voucher when it applies (platform voucher,
or shop voucher with all items from one shop; total at least the threshold). A fixed voucher subtracts its face
value; a percentage voucher gives ``max(total * (1 - discount), total - cap)``. Web (knowledge) tasks are scored
as published: the knowledge attribute must appear in the title or description, and the title similarity to the
target must be at least 0.8 (the exact id scores both).

Differences from the original, by necessity: title similarity defaults to a lexical cosine (the original
embeds titles with Qwen3-Embedding-0.6B; pass any ``TitleSimilarity`` to use embeddings), and names and values
are compared case- and whitespace-insensitively.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from sandbox.catalog.product import Product
from sandbox.catalog.search import normalize_key
from sandbox.tasks.models import ShoppingTarget, ShoppingTask, Voucher

TITLE_THRESHOLD = 0.5
WEB_TITLE_THRESHOLD = 0.8

_TOKEN = re.compile(r"[0-9a-z]+")


class TitleSimilarity(Protocol):
    """Similarity of two product titles in [0, 1] (the original uses embedding cosine)."""

    def __call__(self, a: str, b: str) -> float: ...


def token_cosine(a: str, b: str) -> float:
    """Cosine similarity of the two titles' lowercase word-count vectors (a lexical stand-in for embeddings)."""
    ca, cb = Counter(_TOKEN.findall(a.casefold())), Counter(_TOKEN.findall(b.casefold()))
    if not ca or not cb:
        return 0.0
    dot = sum(ca[t] * cb[t] for t in ca.keys() & cb.keys())
    return dot / math.sqrt(sum(v * v for v in ca.values()) * sum(v * v for v in cb.values()))


def native_id(product_id: str, source: str = "shoppingbench") -> str:
    """``shoppingbench:3706669986`` -> ``3706669986``; ids of other sources are returned unchanged."""
    prefix = f"{source}:"
    return product_id[len(prefix) :] if product_id.startswith(prefix) else product_id


class ItemScore(BaseModel):
    """``r_pro`` of one recommended product against one target item, with per-field hits and totals."""

    r_pro: float
    exact: bool
    hits: dict[str, int] = Field(default_factory=dict)
    totals: dict[str, int] = Field(default_factory=dict)


def score_item(
    product: Product | None,
    target: ShoppingTarget,
    *,
    similarity: TitleSimilarity = token_cosine,
    threshold: float = TITLE_THRESHOLD,
    source: str = "shoppingbench",
) -> ItemScore:
    """``r_pro`` of ``product`` for ``target`` (0 when no product was recommended for the item)."""
    if product is None:
        return ItemScore(r_pro=0.0, exact=False)
    if native_id(product.product_id, source) == target.product_id:
        return ItemScore(r_pro=1.0, exact=True)
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for title in target.titles:
        totals["title"] += 1
        if similarity(product.title, title) >= threshold:
            hits["title"] += 1
    for price_range in target.price:
        totals["price"] += 1
        if price_range.contains(product.price):
            hits["price"] += 1
    services = {normalize_key(s) for s in product.services}
    for service in target.service:
        totals["service"] += 1
        if normalize_key(service) in services:
            hits["service"] += 1
    pairs = [(normalize_key(k), normalize_key(v)) for k, v in target.sampled_pairs]
    if pairs:
        attributes = {
            (normalize_key(k), normalize_key(v)) for k, values in product.attributes.items() for v in values
        }
        skus = [set()] + [
            {(normalize_key(k), normalize_key(v)) for k, v in option.items()} for option in product.options
        ]
        best = max(sum(1 for pair in pairs if pair in sku or pair in attributes) for sku in skus)
        totals["sku & attrs"] += len(pairs)
        hits["sku & attrs"] += best
    total = sum(totals.values())
    r_pro = sum(hits.values()) / total if total else 0.0
    return ItemScore(r_pro=r_pro, exact=False, hits=dict(hits), totals=dict(totals))


def price_after_voucher(total: float, voucher: Voucher, n_shops: int) -> float | None:
    """The total after ``voucher``, or ``None`` when it does not apply (wrong shop mix, under the threshold)."""
    if voucher.voucher_type == "shop" and n_shops != 1:
        return None
    if total < voucher.threshold:
        return None
    if voucher.discount_type == "fixed":
        return total - float(voucher.face_value)  # type: ignore[arg-type]
    return max(total * (1 - float(voucher.discount)), total - float(voucher.cap))  # type: ignore[arg-type]


def within_budget(prices: Sequence[float], shop_ids: Sequence[str | None], voucher: Voucher) -> bool:
    """The ShoppingBench budget rule: the total fits the budget, directly or after an applicable voucher."""
    total = float(sum(prices))
    if total <= voucher.budget:
        return True
    after = price_after_voucher(total, voucher, len(set(shop_ids)))
    return after is not None and after <= voucher.budget


class ShoppingScore(BaseModel):
    """A shopping episode's score: mean ``r_pro`` over items, the task's extra conditions and success."""

    r_pro: float
    items: list[ItemScore]
    exact: float = Field(description="Share of items recommended with the exact target id.")
    all_found: bool = Field(description="A known product was recommended for every item.")
    same_shop: bool | None = None
    budget_ok: bool | None = None
    knowledge_ok: bool | None = None
    success: bool


def score_web_task(
    product: Product | None,
    task: ShoppingTask,
    *,
    similarity: TitleSimilarity = token_cosine,
    threshold: float = WEB_TITLE_THRESHOLD,
) -> ShoppingScore:
    """The published web-task rule: knowledge attribute in title or description, title similarity >= 0.8."""
    target = task.items[0]
    if product is None:
        item = ItemScore(r_pro=0.0, exact=False)
        return ShoppingScore(
            r_pro=0.0, items=[item], exact=0.0, all_found=False, knowledge_ok=False, success=False
        )
    if native_id(product.product_id, task.catalog_source) == target.product_id:
        item = ItemScore(r_pro=1.0, exact=True)
        return ShoppingScore(
            r_pro=1.0, items=[item], exact=1.0, all_found=True, knowledge_ok=True, success=True
        )
    keyword = (task.knowledge_attribute or "").casefold()
    knowledge = bool(keyword) and (
        keyword in product.title.casefold() or keyword in (product.description or "").casefold()
    )
    title_ok = similarity(product.title, target.titles[0]) >= threshold
    r_pro = (int(knowledge) + int(title_ok)) / 2
    item = ItemScore(
        r_pro=r_pro,
        exact=False,
        hits={"knowledge": int(knowledge), "title": int(title_ok)},
        totals={"knowledge": 1, "title": 1},
    )
    return ShoppingScore(
        r_pro=r_pro, items=[item], exact=0.0, all_found=True, knowledge_ok=knowledge, success=r_pro == 1.0
    )


def score_shopping_task(
    task: ShoppingTask,
    recommended: Sequence[Product | None],
    *,
    similarity: TitleSimilarity = token_cosine,
    threshold: float = TITLE_THRESHOLD,
) -> ShoppingScore:
    """Score the recommended products (item ``i`` against target ``i``; extras are ignored, missing score 0)."""
    if task.task_type == "web":
        return score_web_task(recommended[0] if recommended else None, task, similarity=similarity)
    n = len(task.items)
    chosen = list(recommended[:n]) + [None] * max(0, n - len(recommended))
    items = [
        score_item(p, target, similarity=similarity, threshold=threshold, source=task.catalog_source)
        for p, target in zip(chosen, task.items, strict=True)
    ]
    found = [p for p in chosen if p is not None]
    all_found = len(found) == n
    r_pro = sum(i.r_pro for i in items) / n
    success = all(i.r_pro >= 1.0 for i in items) and all_found
    same_shop = None
    if task.same_shop:
        same_shop = all_found and len({p.shop_id for p in found}) == 1 and found[0].shop_id is not None
        success = success and same_shop
    budget_ok = None
    if task.voucher is not None:
        budget_ok = all_found and all(p.price is not None for p in found)
        if budget_ok:
            budget_ok = within_budget(
                [float(p.price) for p in found], [p.shop_id for p in found], task.voucher
            )  # type: ignore[arg-type]
        success = success and budget_ok
    return ShoppingScore(
        r_pro=r_pro,
        items=items,
        exact=sum(i.exact for i in items) / n,
        all_found=all_found,
        same_shop=same_shop,
        budget_ok=budget_ok,
        success=success,
    )
