"""ShoppingBench's success rules in two modes: the published code exactly, and prgym's lenient rules.

Both modes share the published structure. Per recommended item against its target (``r_pro``):

* the exact target product id scores 1;
* otherwise ``r_pro = hits / total`` where each target title counts once (hit when the title similarity is at
  least 0.5), each price range once (``less than``: ``price <= high``; ``greater than``: ``price >= low``;
  ``between``: ``low <= price <= high``, inclusive), each required service once, and each sampled
  ``(name, value)`` of options and attributes once (hit when the pair is among the product's attributes or
  among the options of one of its SKUs; the best SKU counts).

A task succeeds when every item has ``r_pro = 1`` and, for shop tasks, all items come from one shop; for
voucher tasks, the total must fit the budget: directly, or after the voucher when it applies (platform voucher,
or shop voucher with all items from one shop; total at least the threshold). A fixed voucher subtracts its face
value; a percentage voucher gives ``max(total * (1 - discount), total - cap)``. Web (knowledge) tasks: the
knowledge attribute must appear in the title or description, and the title similarity to the target must be at
least 0.8 (the exact id scores both).

``scoring="shoppingbench"`` reproduces ``src/agent/rewards/orm.py`` and ``src/agent/run_evaluate.py`` of
yjwjy/ShoppingBench exactly, on the product's raw ShoppingBench record (see :func:`record_from_product`), with
six behaviours prgym's lenient mode (``scoring="prgym"``) does not share. Each is marked ``QUIRK n`` below:

1. names, values and services compare exactly (case and whitespace count);
2. attributes are the record's ``attributes`` only (prgym's loader also merges the ``specification`` string);
3. a missing or null field the rules read raises in the published code (here :class:`ShoppingBenchCrash`;
   the task scores 0 with ``crash`` naming the field) where prgym scores a miss;
4. items whose ``shop_id`` is null all count as one shop (a shop task can succeed with no shop at all);
5. the web knowledge check runs on the raw title/description with ``str.lower``, a bare ``in`` (an empty
   attribute is in every text; prgym: casefolded, whitespace-normalised text, an empty attribute a miss);
6. the web ground-truth flag is a substring test, ``target_id in product_id`` (prgym: exact id).

Both modes differ from the original by necessity in one way: title similarity defaults to a lexical cosine (the
original embeds titles with Qwen3-Embedding-0.6B; pass any ``TitleSimilarity`` to use embeddings). Per-field
scores (``title``, ``price``, ``service``, ``sku & attrs``), the recommended-product share (``product``), the
ground-truth share (``gt``) and the length reward are reported as ``run_evaluate.py`` reports them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field

from sandbox.catalog.product import Product
from sandbox.catalog.search import normalize_key
from sandbox.tasks.models import Scoring, ShoppingTarget, ShoppingTask, Voucher

TITLE_THRESHOLD = 0.5
WEB_TITLE_THRESHOLD = 0.8
FIELDS = ("title", "price", "service", "sku & attrs")
"""The per-field scores ``run_evaluate.py`` prints, in its order."""

_TOKEN = re.compile(r"[0-9a-z]+")

RawRecord = dict[str, Any]
RecordLookup = Callable[[str], RawRecord | None]
"""Native product id -> the product's raw ShoppingBench record, or ``None`` when unknown."""


class TitleSimilarity(Protocol):
    """Similarity of two product titles in [0, 1] (the original uses embedding cosine)."""

    def __call__(self, a: str, b: str) -> float: ...


class ShoppingBenchCrash(Exception):
    """The published evaluation code would raise here (QUIRK 3); ``field`` names what was missing or null."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


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

    def field_scores(self) -> dict[str, float]:
        """``hits / total`` per field, 1 for a field the target does not constrain (as ``run_evaluate.py``)."""
        return {f: (self.hits.get(f, 0) / self.totals[f] if self.totals.get(f) else 1.0) for f in FIELDS}


# -- the published record format -------------------------------------------------------------------------------


def reward_of(target: ShoppingTarget) -> RawRecord:
    """A target in the published ``reward`` format (``{"between": [lo, hi]}`` price ranges, ...)."""
    reward: RawRecord = {"product_id": target.product_id, "title": list(target.titles)}
    if target.price:
        reward["price"] = [{p.mode: [p.low, p.high]} for p in target.price]
    if target.service:
        reward["service"] = list(target.service)
    if target.sku_options:
        reward["sku_options"] = [dict(o) for o in target.sku_options]
    if target.attributes:
        reward["attributes"] = [{k: list(v) for k, v in a.items()} for a in target.attributes]
    return reward


def record_from_product(product: Product, source: str = "shoppingbench") -> RawRecord:
    """A catalog product in the published record format, for products whose raw record is not known.

    Lossy where the loader normalised: attributes include what was parsed from a ``specification`` string,
    text is whitespace-normalised and null fields are absent. Pass raw records (:func:`records_from_tasks`)
    to score ShoppingBench products exactly.
    """
    record: RawRecord = {
        "product_id": native_id(product.product_id, source),
        "title": product.title,
        "shop_id": product.shop_id,
        "service": list(product.services),
        "sku_options": {str(i): dict(o) for i, o in enumerate(product.options, 1)},
        "attributes": {k: list(v) for k, v in product.attributes.items()},
    }
    if product.price is not None:
        record["price"] = float(product.price)
    if product.description is not None:
        record["description"] = product.description
    return record


def records_from_tasks(tasks: Sequence[ShoppingTask]) -> dict[str, RawRecord]:
    """Native id -> raw record for every full target record the tasks carry (ShoppingBench web tasks)."""
    out: dict[str, RawRecord] = {}
    for task in tasks:
        for item in task.items:
            if item.record is not None:
                out[str(item.record.get("product_id", item.product_id))] = item.record
    return out


def _field(record: Mapping[str, Any], name: str) -> Any:
    """``record[name]`` as the published code reads it: a missing key raises (QUIRK 3)."""
    if name not in record:
        raise ShoppingBenchCrash(name, "missing from the product record (KeyError in the published code)")
    return record[name]


# -- one item --------------------------------------------------------------------------------------------------


def rule_score_exact(
    record: Mapping[str, Any],
    reward: Mapping[str, Any],
    *,
    similarity: TitleSimilarity = token_cosine,
    threshold: float = TITLE_THRESHOLD,
) -> ItemScore:
    """``rule_score_reward`` of the published ``orm.py``, quirks included; raises :class:`ShoppingBenchCrash`."""
    if _field(record, "product_id") == reward["product_id"]:
        return ItemScore(r_pro=1.0, exact=True)
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for title in reward.get("title") or []:
        product_title = _field(record, "title")
        if not isinstance(product_title, str):
            raise ShoppingBenchCrash("title", f"is {product_title!r}, not text (the embedder fails)")
        totals["title"] += 1
        if similarity(product_title, title) >= threshold:
            hits["title"] += 1
    if "price" in reward:
        price = _field(record, "price")
        for price_range in reward["price"]:
            for mode, (low, high) in price_range.items():
                totals["price"] += 1
                try:
                    hit = (
                        (mode == "less than" and price <= high)
                        or (mode == "greater than" and price >= low)
                        or (mode == "between" and low <= price <= high)
                    )
                except TypeError:  # QUIRK 3: a null price (or bound) meets a comparison in the published code
                    raise ShoppingBenchCrash(
                        "price", "null price or bound (TypeError in the published code)"
                    ) from None
                if hit:
                    hits["price"] += 1
    if "service" in reward:
        for service in reward["service"]:
            services = _field(record, "service")
            if services is None:
                raise ShoppingBenchCrash("service", "is null (TypeError in the published code)")
            totals["service"] += 1
            if service in services:  # QUIRK 1: exact membership (a substring test if the field is text)
                hits["service"] += 1
    # QUIRK 2: only the record's own ``attributes``; its ``specification`` string is not read
    sku_sets: list[set[tuple[str, str]]] = [set()]
    for option in (record.get("sku_options") or {}).values():
        sku_sets.append({(k, v) for k, v in option.items()})
    attr_set = {(k, v) for k, values in (record.get("attributes") or {}).items() for v in values}
    pairs = [(k, v) for option in reward.get("sku_options") or [] for k, v in option.items()]
    pairs += [(k, v) for attr in reward.get("attributes") or [] for k, vs in attr.items() for v in vs]
    # QUIRK 1: pairs compare exactly. The published loop keeps the best hit count over SKUs; its total is the
    # same for every SKU.
    best = max(sum(1 for pair in pairs if pair in sku or pair in attr_set) for sku in sku_sets)
    totals["sku & attrs"] += len(pairs)
    hits["sku & attrs"] += best
    total = sum(totals.values())
    if total == 0:
        raise ShoppingBenchCrash(
            "reward", "the target constrains nothing (ZeroDivisionError in the published code)"
        )
    return ItemScore(r_pro=sum(hits.values()) / total, exact=False, hits=dict(hits), totals=dict(totals))


def score_item(
    product: Product | None,
    target: ShoppingTarget,
    *,
    similarity: TitleSimilarity = token_cosine,
    threshold: float = TITLE_THRESHOLD,
    source: str = "shoppingbench",
    scoring: Scoring = "prgym",
    record: RawRecord | None = None,
) -> ItemScore:
    """``r_pro`` of ``product`` for ``target`` (0 when no product was recommended for the item).

    ``scoring="shoppingbench"`` scores ``record`` (default: :func:`record_from_product`) with
    :func:`rule_score_exact` and may raise :class:`ShoppingBenchCrash`.
    """
    if product is None:
        return ItemScore(r_pro=0.0, exact=False)
    if scoring == "shoppingbench":
        raw = record if record is not None else record_from_product(product, source)
        return rule_score_exact(raw, reward_of(target), similarity=similarity, threshold=threshold)
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
        if price_range.contains(product.price):  # a null price is a miss, not a crash
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
        skus: list[set[tuple[str, str]]] = [set()] + [
            {(normalize_key(k), normalize_key(v)) for k, v in option.items()} for option in product.options
        ]
        best = max(sum(1 for pair in pairs if pair in sku or pair in attributes) for sku in skus)
        totals["sku & attrs"] += len(pairs)
        hits["sku & attrs"] += best
    total = sum(totals.values())
    r_pro = sum(hits.values()) / total if total else 0.0
    return ItemScore(r_pro=r_pro, exact=False, hits=dict(hits), totals=dict(totals))


# -- vouchers --------------------------------------------------------------------------------------------------


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
    """The ShoppingBench budget rule: the total fits the budget, directly or after an applicable voucher.

    Null shop ids count as one shop here in both modes (the published ``len(set(shop_ids)) == 1``).
    """
    total = float(sum(prices))
    if total <= voucher.budget:
        return True
    after = price_after_voucher(total, voucher, len(set(shop_ids)))
    return after is not None and after <= voucher.budget


# -- whole tasks -----------------------------------------------------------------------------------------------


class ShoppingScore(BaseModel):
    """A shopping episode's score: mean ``r_pro`` over items, the task's extra conditions and success."""

    r_pro: float
    items: list[ItemScore]
    exact: float = Field(description="Share of items recommended with the exact target id ('gt').")
    all_found: bool = Field(description="A known product was recommended for every item.")
    product: float = Field(default=0.0, description="Share of items with a known recommended product.")
    fields: dict[str, float] = Field(default_factory=dict, description="Per-field scores as published.")
    same_shop: bool | None = None
    budget_ok: bool | None = None
    knowledge_ok: bool | None = None
    length: float | None = Field(default=None, description="1 / steps when the episode ended with an answer.")
    scoring: Scoring = "prgym"
    crash: str | None = Field(default=None, description="Where the published code would have raised.")
    success: bool


def _web_text(text: str | None, scoring: Scoring) -> str:
    if scoring == "shoppingbench":
        return (text or "").lower()  # QUIRK 5: raw text, str.lower
    return " ".join((text or "").split()).casefold()


def score_web_task(
    product: Product | None,
    task: ShoppingTask,
    *,
    similarity: TitleSimilarity = token_cosine,
    threshold: float = WEB_TITLE_THRESHOLD,
    scoring: Scoring | None = None,
    record: RawRecord | None = None,
    recommended_id: str | None = None,
) -> ShoppingScore:
    """The published web-task rule: knowledge attribute in title or description, title similarity >= 0.8.

    ``recommended_id`` is the id the agent gave (it may name no catalog product); it defaults to the product's.
    """
    mode = scoring or task.scoring
    target = task.items[0]
    given = recommended_id if recommended_id is not None else (product.product_id if product else "")
    given = native_id(given, task.catalog_source)
    if mode == "shoppingbench":
        gt = bool(given) and target.product_id in given  # QUIRK 6: substring test
    else:
        gt = product is not None and native_id(product.product_id, task.catalog_source) == target.product_id
    fields = {"kw": 0.0, "title": 0.0}
    if product is None:
        item = ItemScore(r_pro=0.0, exact=False)
        return ShoppingScore(
            r_pro=0.0, items=[item], exact=float(gt), all_found=False, knowledge_ok=False, success=False,
            fields=fields, scoring=mode,
        )  # fmt: skip
    pid = native_id(product.product_id, task.catalog_source)
    if pid == target.product_id:  # the rule itself compares ids exactly in both modes
        item = ItemScore(r_pro=1.0, exact=True)
        return ShoppingScore(
            r_pro=1.0, items=[item], exact=1.0, all_found=True, product=1.0, knowledge_ok=True, success=True,
            fields={"kw": 1.0, "title": 1.0}, scoring=mode,
        )  # fmt: skip
    raw = record if record is not None else record_from_product(product, task.catalog_source)
    try:
        if mode == "shoppingbench":
            title, description = _field(raw, "title"), _field(raw, "description")
            if description is None or title is None:
                raise ShoppingBenchCrash("description" if description is None else "title", "is null")
        else:
            title, description = product.title, product.description
        # prgym: the keyword is casefolded as given; the catalog's text is already whitespace-normalised
        keyword = (
            _web_text(task.knowledge_attribute, mode)
            if mode == "shoppingbench"
            else ((task.knowledge_attribute or "").casefold())
        )
        # the published test is a bare ``in``: an empty keyword is in every text; prgym: an empty one is a miss
        knowledge = (bool(keyword) or mode == "shoppingbench") and (
            keyword in _web_text(title, mode) or keyword in _web_text(description, mode)
        )
    except ShoppingBenchCrash as crash:
        item = ItemScore(r_pro=0.0, exact=False)
        return ShoppingScore(
            r_pro=0.0, items=[item], exact=float(gt), all_found=True, product=1.0, knowledge_ok=False,
            success=False, fields=fields, scoring=mode, crash=str(crash),
        )  # fmt: skip
    title_ok = similarity(str(title), target.titles[0]) >= threshold
    r_pro = (int(knowledge) + int(title_ok)) / 2
    item = ItemScore(
        r_pro=r_pro,
        exact=False,
        hits={"knowledge": int(knowledge), "title": int(title_ok)},
        totals={"knowledge": 1, "title": 1},
    )
    return ShoppingScore(
        r_pro=r_pro, items=[item], exact=float(gt), all_found=True, product=1.0, knowledge_ok=knowledge,
        success=r_pro == 1.0, fields={"kw": float(knowledge), "title": float(title_ok)}, scoring=mode,
    )  # fmt: skip


def _records_for(
    products: Sequence[Product | None], source: str, records: RecordLookup | None
) -> list[RawRecord | None]:
    out: list[RawRecord | None] = []
    for p in products:
        raw = records(native_id(p.product_id, source)) if (p is not None and records is not None) else None
        out.append(raw if raw is not None or p is None else record_from_product(p, source))
    return out


def score_shopping_task(
    task: ShoppingTask,
    recommended: Sequence[Product | None],
    *,
    similarity: TitleSimilarity = token_cosine,
    threshold: float = TITLE_THRESHOLD,
    scoring: Scoring | None = None,
    records: RecordLookup | None = None,
    recommended_ids: Sequence[str] | None = None,
) -> ShoppingScore:
    """Score the recommended products (item ``i`` against target ``i``; extras are ignored, missing score 0).

    ``scoring`` defaults to the task's own (``task.scoring``); ``records`` finds raw ShoppingBench records for
    the exact mode (default: the tasks' own target records, then :func:`record_from_product`).
    """
    mode = scoring or task.scoring
    own = records_from_tasks([task])

    def lookup(pid: str) -> RawRecord | None:
        return own.get(pid) or (records(pid) if records is not None else None)

    raws = _records_for(recommended, task.catalog_source, lookup)
    if task.task_type == "web":
        return score_web_task(
            recommended[0] if recommended else None,
            task,
            similarity=similarity,
            scoring=mode,
            record=raws[0] if raws else None,
            recommended_id=recommended_ids[0] if recommended_ids else None,
        )
    n = len(task.items)
    chosen = list(recommended[:n]) + [None] * max(0, n - len(recommended))
    chosen_raw = list(raws[:n]) + [None] * max(0, n - len(raws))
    found = [p for p in chosen if p is not None]
    all_found = len(found) == n
    try:
        items = [
            score_item(
                p,
                target,
                similarity=similarity,
                threshold=threshold,
                source=task.catalog_source,
                scoring=mode,
                record=raw,
            )  # fmt: skip
            for p, raw, target in zip(chosen, chosen_raw, task.items, strict=True)
        ]
        if mode == "shoppingbench":
            found_raw = [r for r in chosen_raw if r is not None]
            shop_ids = [_field(r, "shop_id") for r in found_raw] if (task.same_shop or task.voucher) else []
            prices = [_field(r, "price") for r in found_raw] if task.voucher is not None else []
            if any(p is None for p in prices):
                raise ShoppingBenchCrash(
                    "price", "null price in the budget sum (TypeError in the published code)"
                )
    except ShoppingBenchCrash as crash:
        return ShoppingScore(
            r_pro=0.0, items=[ItemScore(r_pro=0.0, exact=False) for _ in task.items], exact=0.0,
            all_found=all_found, product=len(found) / n, fields=dict.fromkeys(FIELDS, 0.0),
            same_shop=False if task.same_shop else None, budget_ok=False if task.voucher else None,
            scoring=mode, crash=str(crash), success=False,
        )  # fmt: skip
    r_pro = sum(i.r_pro for i in items) / n
    success = all(i.r_pro >= 1.0 for i in items) and all_found
    # as run_evaluate.py: per-field scores summed over the found items, divided by the number of items
    field_sums = dict.fromkeys(FIELDS, 0.0)
    for p, item in zip(chosen, items, strict=True):
        if p is not None:
            for f, v in item.field_scores().items():
                field_sums[f] += v
    fields = {f: v / n for f, v in field_sums.items()}
    same_shop = None
    if task.same_shop:
        if mode == "shoppingbench":
            same_shop = all_found and len(set(shop_ids)) == 1  # QUIRK 4: all-null shop ids are one shop
        else:
            same_shop = all_found and len({p.shop_id for p in found}) == 1 and found[0].shop_id is not None
        success = success and same_shop
    budget_ok = None
    if task.voucher is not None:
        if mode == "shoppingbench":
            budget_ok = all_found and within_budget([float(p) for p in prices], shop_ids, task.voucher)
        else:
            found_prices = [p.price for p in found if p.price is not None]
            budget_ok = all_found and len(found_prices) == len(found)
            if budget_ok:
                budget_ok = within_budget(
                    [float(price) for price in found_prices], [p.shop_id for p in found], task.voucher
                )
        success = success and budget_ok
    return ShoppingScore(
        r_pro=r_pro,
        items=items,
        exact=sum(i.exact for i in items) / n,
        all_found=all_found,
        product=len(found) / n,
        fields=fields,
        same_shop=same_shop,
        budget_ok=budget_ok,
        scoring=mode,
        success=success,
    )


def length_reward(steps: int, answered: bool) -> float:
    """The published length reward: ``1 / steps`` when the episode ended with its final answer, else 0."""
    return 1.0 / steps if answered and steps > 0 else 0.0
