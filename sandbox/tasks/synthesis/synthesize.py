"""ShoppingBench's task synthesis (DESIGN section 1) on any prgym catalog, verified by construction.

Intents:

* ``product``: one sampled product; always its title, each option of one SKU / attribute value / service with
  probability 1/2 (at most ``max_pairs`` option/attribute pairs, values up to 40 characters), a price range
  around its price (``greater than``, ``less than`` or ``between``, whole numbers);
* ``shop``: 2-4 products from one shop, each sampled as above; all must come from one shop;
* ``voucher``: 1-3 products (from one shop, or one source for a platform voucher), a fixed or capped-percentage
  voucher with a threshold, and a budget that is met after the voucher and not before (``needs_voucher``) or,
  the reverse, met before it while the voucher does not apply (``voucher_not_needed``: the total is below the
  threshold);
* ``knowledge``: a fact read from a page of a configured web corpus or recorded cache decides which product
  fits (:mod:`.knowledge`); without a corpus the intent is skipped with a message.

Every candidate task is checked before it is accepted, and rejected with a reason otherwise: the targets pass
the reference filter and the oracle answer (the targets) succeeds under the task's scoring (``target_fails``);
``meta.n_satisfying`` counts the *other* catalog products meeting every constraint of an item, summed over
items (``meta.n_satisfying_items`` per item; budgets and shops are not part of the count) and more than
``max_satisfying`` is rejected (``too_many_satisfying``); ``product_search`` for each item's title must return
the target or a satisfying product in its first 50 hits (``unreachable``); the query must state every sampled
requirement (``writer_missed_requirement``). Randomness: one generator per (seed, intent, attempt), so the same
seed, catalog and writer give a byte-identical file.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from sandbox.catalog.backend import CatalogBackend
from sandbox.catalog.product import Product
from sandbox.rewards.shoppingbench import price_after_voucher, score_shopping_task
from sandbox.tasks.models import PriceMode, PriceRange, ShoppingTarget, ShoppingTask, Voucher, format_money
from sandbox.tasks.synthesis.knowledge import (
    KnowledgeIndex,
    KnowledgeSource,
    contains_words,
    knowledge_counts,
    knowledge_task,
    sample_knowledge,
    web_satisfies,
)
from sandbox.tasks.synthesis.pool import CatalogPool, reachable, satisfies, target_of_id
from sandbox.tasks.synthesis.writer import (
    ItemRequirements,
    QueryWriter,
    Requirement,
    TemplateWriter,
    missing_requirements,
)

Intent = Literal["product", "shop", "voucher", "knowledge"]
INTENTS: tuple[Intent, ...] = ("product", "shop", "voucher", "knowledge")


def _default_counts() -> dict[Intent, int]:
    """Ten tasks of each catalog intent (knowledge tasks need a web corpus or cache, so they are opt-in)."""
    return {"product": 10, "shop": 10, "voucher": 10}


_TASK_TYPE = {"product": "product", "shop": "shop", "voucher": "voucher", "knowledge": "web"}
MAX_VALUE_CHARS = 40
_WORD = re.compile(r"[0-9a-z]+")
KNOWLEDGE_SKIPPED = (
    "knowledge intent skipped: it needs a web corpus or a recorded web cache to ground the fact "
    "(configure one with `prgym web`); no knowledge tasks were written"
)


class SynthesisConfig(BaseModel):
    """What to synthesize. The same config, catalog snapshot and writer give the same tasks."""

    counts: dict[Intent, int] = Field(default_factory=_default_counts)
    seed: int = 0
    max_satisfying: int = Field(default=1000, ge=0, description="Reject tasks with more satisfying products.")
    max_pairs: int = Field(default=4, ge=0, description="Most option/attribute pairs sampled per item.")
    max_attempts: int = Field(
        default=30, ge=1, description="Candidate tasks per accepted task before giving up."
    )
    web_corpus: str | None = Field(
        default=None, description="Web corpus / cache; needed by the knowledge intent."
    )
    scoring: Literal["shoppingbench", "prgym"] = "prgym"


class Rejection(BaseModel):
    intent: Intent
    attempt: int
    reason: str


class SynthesisReport(BaseModel):
    """Accepted tasks, attempts and rejections per intent, and the time each intent took."""

    tasks: list[ShoppingTask]
    attempts: dict[str, int] = Field(default_factory=dict)
    accepted: dict[str, int] = Field(default_factory=dict)
    rejections: dict[str, dict[str, int]] = Field(default_factory=dict)
    seconds: dict[str, float] = Field(default_factory=dict)
    messages: list[str] = Field(default_factory=list)

    @property
    def accept_rate(self) -> float:
        total = sum(self.attempts.values())
        return sum(self.accepted.values()) / total if total else 0.0


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _sample_price(price: float, rng: np.random.Generator) -> PriceRange:
    low = math.floor(price * rng.uniform(0.7, 0.95))
    high = math.ceil(price * rng.uniform(1.05, 1.3))
    modes: tuple[PriceMode, ...] = ("greater than", "less than", "between")
    mode = modes[int(rng.integers(3))]
    if mode == "greater than":
        return PriceRange(mode=mode, low=low)
    if mode == "less than":
        return PriceRange(mode=mode, high=high)
    return PriceRange(mode=mode, low=low, high=high)


def _price_requirement(rng: PriceRange, currency: str | None, item: int) -> Requirement:
    terms = [_number(v) for v in (rng.low, rng.high) if v is not None]
    return Requirement(kind="price", item=item, phrase=rng.describe(currency), terms=terms)


def sample_target(product: Product, rng: np.random.Generator, max_pairs: int, item: int = 0):
    """A target for ``product`` (title, 1/2-sampled options / attributes / services, a price range) and the
    requirements its query must state."""
    source, native = target_of_id(product)
    reqs = [Requirement(kind="title", item=item, phrase=product.title, terms=[product.title])]
    pairs: list[tuple[str, str, str]] = []  # (kind, name, value)
    if product.options:
        sku = product.options[int(rng.integers(len(product.options)))]
        pairs += [("option", k, v) for k, v in sku.items() if rng.random() < 0.5]
    for name, values in product.attributes.items():
        pairs += [("attribute", name, v) for v in values if rng.random() < 0.5]
    pairs = [p for p in pairs if p[2].strip() and len(p[2]) <= MAX_VALUE_CHARS and p[1].strip()]
    if len(pairs) > max_pairs:
        keep = sorted(rng.choice(len(pairs), size=max_pairs, replace=False).tolist())
        pairs = [pairs[i] for i in keep]
    services = [s for s in product.services if rng.random() < 0.5]
    price = (
        [_sample_price(float(product.price), rng)] if product.price is not None and product.price >= 1 else []
    )
    target = ShoppingTarget(
        product_id=native,
        titles=[product.title],
        sku_options=[{k: v} for kind, k, v in pairs if kind == "option"],
        attributes=[{k: [v]} for kind, k, v in pairs if kind == "attribute"],
        price=price,
        service=services,
    )
    reqs += [Requirement(kind="pair", item=item, phrase=f"{k}: {v}", terms=[v]) for _, k, v in pairs]
    reqs += [_price_requirement(r, product.currency, item) for r in price]
    reqs += [Requirement(kind="service", item=item, phrase=f"service {s}", terms=[s]) for s in services]
    return source, target, ItemRequirements(requirements=reqs)


def _voucher(
    total: float, shop_ids: Sequence[str | None], rng: np.random.Generator, currency: str | None
) -> tuple[Voucher, list[Requirement], str]:
    kind = (
        "shop" if len(set(shop_ids)) == 1 and shop_ids[0] is not None and rng.random() < 0.5 else "platform"
    )
    variant = "needs_voucher" if rng.random() < 0.75 else "voucher_not_needed"
    money = lambda v: format_money(Decimal(str(v)), currency)  # noqa: E731
    if variant == "needs_voucher":
        threshold = float(math.floor(total * rng.uniform(0.5, 0.95)))
    else:
        threshold = float(math.ceil(total * rng.uniform(1.1, 1.5)))
    if rng.random() < 0.5:
        face = float(max(1, round(total * rng.uniform(0.05, 0.2))))
        fields = {"discount_type": "fixed", "face_value": face}
        words = f"a {kind} voucher for {money(face)} off orders of at least {money(threshold)}"
        terms = [_number(face), _number(threshold)]
    else:
        discount = float(rng.choice([0.05, 0.1, 0.15, 0.2, 0.25]))
        cap = float(max(1, round(total * discount * rng.uniform(0.5, 1.0))))
        fields = {"discount_type": "percentage", "discount": discount, "cap": cap}
        words = (
            f"a {kind} voucher for {discount * 100:.0f}% off (up to {money(cap)}) on orders of at least "
            f"{money(threshold)}"
        )
        terms = [f"{discount * 100:.0f}%", _number(cap), _number(threshold)]
    probe = Voucher(voucher_type=kind, threshold=threshold, budget=0, **fields)
    if variant == "needs_voucher":
        after = price_after_voucher(total, probe, len(set(shop_ids)))
        assert after is not None
        budget = round(after + (total - after) * rng.uniform(0.2, 0.8), 2)
        if not after <= budget < total:
            raise _Reject("voucher_gap_too_small")
    else:
        budget = float(math.ceil(total * rng.uniform(1.0, 1.08)))
    voucher = probe.model_copy(update={"budget": budget})
    reqs = [
        Requirement(kind="voucher", phrase=f"I have {words}", terms=terms),
        Requirement(kind="budget", phrase=f"my total budget is {money(budget)}", terms=[_number(budget)]),
    ]
    return voucher, reqs, variant


class _Synthesizer:
    def __init__(
        self, pool: CatalogPool, backend: CatalogBackend, config: SynthesisConfig, writer: QueryWriter
    ) -> None:
        self.pool, self.backend, self.config, self.writer = pool, backend, config, writer
        self.priced = np.array(
            [i for i, p in enumerate(pool.products) if p.price is not None], dtype=np.int64
        )
        self.shop_names = sorted(pool.shops)
        # priced products per source, in catalog order (a per-candidate scan of the catalog was a quarter of
        # the voucher intent's time)
        by_source: dict[str, list[int]] = {}
        for i in self.priced.tolist():
            by_source.setdefault(pool.products[i].source, []).append(i)
        self.priced_by_source = {s: np.array(v, dtype=np.int64) for s, v in by_source.items()}
        self.knowledge: KnowledgeIndex | None = None
        self.knowledge_seen: set[tuple[str, str]] = set()

    def products_for(self, intent: Intent, rng: np.random.Generator) -> list[Product]:
        products = self.pool.products
        if intent == "product":
            return [products[int(rng.choice(self.priced))]]
        if intent == "shop" or (intent == "voucher" and self.shop_names and rng.random() < 0.7):
            if not self.shop_names:
                raise _Reject("no_shop_with_two_products")
            members = self.pool.shops[self.shop_names[int(rng.integers(len(self.shop_names)))]]
            k = int(rng.integers(2, 5)) if intent == "shop" else int(rng.integers(1, 4))
            k = min(k, len(members))
            return [
                products[members[int(i)]] for i in sorted(rng.choice(len(members), size=k, replace=False))
            ]
        first = products[int(rng.choice(self.priced))]
        same = self.priced_by_source[first.source]
        k = int(rng.integers(1, 4))
        extra = [
            products[same[int(i)]] for i in rng.choice(len(same), size=min(k - 1, len(same)), replace=False)
        ]
        chosen = {p.product_id: p for p in [first, *extra]}
        return list(chosen.values())

    def candidate(self, intent: Intent, index: int, attempt: int) -> ShoppingTask:
        rng = np.random.default_rng([self.config.seed, INTENTS.index(intent), index, attempt])
        if intent == "knowledge":
            return self.knowledge_candidate(index, attempt, rng)
        products = self.products_for(intent, rng)
        if len({p.currency for p in products}) > 1:
            raise _Reject("mixed_currencies")
        source = products[0].source
        targets, item_reqs = [], []
        for n, product in enumerate(products):
            item_source, target, reqs = sample_target(product, rng, self.config.max_pairs, n)
            if item_source != source:
                raise _Reject("mixed_sources")
            if not satisfies(product, target, source):
                raise _Reject("target_fails")
            targets.append(target)
            item_reqs.append(reqs)
        task_level: list[Requirement] = []
        voucher, variant = None, None
        currency = products[0].currency
        if intent == "shop":
            task_level.append(
                Requirement(
                    kind="shop", phrase="all of them must come from the same shop", terms=["same shop"]
                )
            )
        if intent == "voucher":
            total = float(sum(float(p.price) for p in products if p.price is not None))
            voucher, reqs, variant = _voucher(total, [p.shop_id for p in products], rng, currency)
            task_level += reqs
        query = self.writer.write(item_reqs, task_level, seed=int(rng.integers(1 << 30)))
        if missing_requirements(query, item_reqs, task_level):
            raise _Reject("writer_missed_requirement")
        counts = []
        for product, target in zip(products, targets, strict=True):
            others = self.pool.satisfying(target, source)
            if len(others) > self.config.max_satisfying:
                raise _Reject("too_many_satisfying")
            if not reachable(self.backend, target, {product.product_id, *others}):
                raise _Reject("unreachable")
            counts.append(len(others))
        task = ShoppingTask(
            task_id=f"syn-{intent}-s{self.config.seed}-{index:05d}",
            query=query,
            task_type=_TASK_TYPE[intent],
            items=targets,
            voucher=voucher,
            same_shop=intent == "shop",
            currency=currency,
            catalog_source=source,
            scoring=self.config.scoring,
            meta={
                "source": "synthesis",
                "intent": intent,
                "n_satisfying": sum(counts),
                "n_satisfying_items": counts,
                "writer": self.writer.name,
                "seed": self.config.seed,
                "attempt": attempt,
                "snapshot_id": getattr(self.backend, "snapshot_id", None),
                "requirements": [r.phrase for reqs in item_reqs for r in reqs.requirements]
                + [r.phrase for r in task_level],
                **({"voucher_variant": variant} if variant else {}),
            },
        )
        if not score_shopping_task(task, products).success:
            raise _Reject("target_fails")
        return task

    def knowledge_candidate(self, index: int, attempt: int, rng: np.random.Generator) -> ShoppingTask:
        assert self.knowledge is not None
        picked, product = sample_knowledge(self.knowledge, rng)
        fact = picked.fact
        if len(_words(picked.described)) < 2:
            raise _Reject("nothing_left_to_describe")
        item = ItemRequirements(
            requirements=[
                Requirement(kind="title", phrase=picked.described, terms=[picked.described]),
            ]
        )
        cue = Requirement(
            kind="knowledge",
            phrase=f"its title or description must give the {fact.label.casefold()} stated on the page {fact.url}",
            terms=[fact.url, fact.label],
        )
        query = self.writer.write([item], [cue], seed=int(rng.integers(1 << 30)))
        if missing_requirements(query, [item], [cue]):
            raise _Reject("writer_missed_requirement")
        if contains_words(query, fact.value):
            raise _Reject("answer_leaked")
        meta = {
            "source": "synthesis",
            "intent": "knowledge",
            "writer": self.writer.name,
            "seed": self.config.seed,
            "attempt": attempt,
            "snapshot_id": getattr(self.backend, "snapshot_id", None),
            "requirements": [picked.described, cue.phrase],
            "knowledge": {"url": fact.url, "label": fact.label, "in": picked.where},
            "web_source": self.knowledge.source.name,
        }
        task = knowledge_task(
            product, fact, task_id=f"syn-knowledge-s{self.config.seed}-{index:05d}", query=query, meta=meta
        )
        key = (product.product_id, fact.value.casefold())
        if key in self.knowledge_seen:
            raise _Reject("duplicate_target")
        if not web_satisfies(product, task):
            raise _Reject("target_fails")
        others, distractors = knowledge_counts(self.pool, task, picked.described)
        if len(others) > self.config.max_satisfying:
            raise _Reject("too_many_satisfying")
        if distractors == 0:
            raise _Reject("knowledge_not_needed")
        probe = ShoppingTarget(product_id=task.items[0].product_id, titles=[picked.described])
        if not reachable(self.backend, probe, {product.product_id, *others}):
            raise _Reject("unreachable")
        task.meta.update(
            n_satisfying=len(others), n_satisfying_items=[len(others)], n_distractors=distractors
        )
        if not score_shopping_task(task, [product]).success:
            raise _Reject("target_fails")
        self.knowledge_seen.add(key)
        return task


def synthesize_tasks(
    backend: CatalogBackend,
    config: SynthesisConfig,
    *,
    pool: CatalogPool | None = None,
    writer: QueryWriter | None = None,
    on_task: Callable[[str, bool], None] | None = None,
) -> SynthesisReport:
    """Synthesize ``config.counts`` tasks per intent (see the module docstring); ``on_task(intent, accepted)``
    is called after every candidate (for progress bars)."""
    if pool is None:
        store = getattr(getattr(backend, "snapshot", None), "store", None)
        if store is None:
            raise ValueError("pass pool=CatalogPool(...): the backend does not expose its snapshot's store")
        pool = CatalogPool.from_store(store)
    synth = _Synthesizer(pool, backend, config, writer or TemplateWriter())
    report = SynthesisReport(tasks=[])
    for intent in INTENTS:
        count = config.counts.get(intent, 0)
        if count <= 0:
            continue
        if intent == "knowledge":
            if not config.web_corpus:
                report.messages.append(KNOWLEDGE_SKIPPED)
                continue
            started = time.perf_counter()
            synth.knowledge = KnowledgeIndex(pool, KnowledgeSource.open(config.web_corpus))
            if not synth.knowledge.matches:
                report.messages.append(
                    f"knowledge intent skipped: no fact of the {len(synth.knowledge.source.pages)} pages in "
                    f"{config.web_corpus} names a catalog product; no knowledge tasks were written"
                )
                continue
            setup = time.perf_counter() - started
        else:
            setup = 0.0
        started = time.perf_counter()
        reasons: Counter[str] = Counter()
        attempts = accepted = 0
        for index in range(count):
            for attempt in range(config.max_attempts):
                attempts += 1
                try:
                    task = synth.candidate(intent, index, attempt)
                except _Reject as rejection:
                    reasons[rejection.reason] += 1
                    if on_task:
                        on_task(intent, False)
                    continue
                report.tasks.append(task)
                accepted += 1
                if on_task:
                    on_task(intent, True)
                break
            else:
                report.messages.append(
                    f"{intent} task {index}: no acceptable task in {config.max_attempts} attempts"
                )
        report.attempts[intent] = attempts
        report.accepted[intent] = accepted
        report.rejections[intent] = dict(sorted(reasons.items()))
        report.seconds[intent] = time.perf_counter() - started + setup
    return report
