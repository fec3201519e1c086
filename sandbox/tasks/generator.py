"""A seeded research-task generator that reads the catalog itself (until the harness's user agent exists).

Each task starts from a real product drawn with the caller's generator: its category (widened until enough
products share it) and a budget above its price become hard constraints, sometimes with a must-have term from its
title, its brand or a minimum rating. Every candidate constraint is checked against the catalog, so each task has
at least ``min_products`` products that meet all hard constraints; a few of them are kept in ``meta`` as
``feasible_examples`` (handy for tests and as a sanity check, never shown to the agent). The query and the
4-dimension rubric come from fixed templates, filled and weighted with the same generator.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

import numpy as np

from sandbox.catalog.backend import CatalogBackend
from sandbox.catalog.product import Product
from sandbox.catalog.search import SearchFilters, SearchRequest, SortOrder
from sandbox.stopwords import TITLE_NOISE
from sandbox.tasks.models import (
    HardConstraints,
    Persona,
    ResearchTask,
    Rubric,
    RubricCriterion,
    RubricDimension,
    format_money,
)

PERSONAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("a college student on a tight budget", ("low price", "durability")),
    ("a parent shopping for the family", ("safety", "ease of use")),
    ("a remote worker setting up a home office", ("comfort", "reliability")),
    ("someone buying a gift for a friend", ("good reviews", "quality")),
    ("a hobbyist who wants good value", ("value for money", "features")),
    ("a retiree who prefers simple products", ("simplicity", "reliability")),
    ("a small business owner", ("reliability", "total cost")),
    ("a frequent traveller", ("portability", "durability")),
)

QUERY_TEMPLATES: tuple[str, ...] = (
    "I'm {persona}. I'm looking for {thing}{brand}{must} and can spend at most {budget}. "
    "Which options are worth considering? Compare at least {n} and tell me which one you would pick.",
    "As {persona}, I need {thing}{brand}{must}. My budget is {budget}. Please research the catalog, compare at "
    "least {n} products and recommend the best one for me.",
    "Can you help me choose {thing}{brand}{must} for no more than {budget}? I'm {persona}. I'd like a comparison "
    "of at least {n} options with their prices and key features, and a clear recommendation.",
)

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


def _count(backend: CatalogBackend, query: str, filters: SearchFilters) -> int:
    return backend.search(SearchRequest(query=query, filters=filters, page_size=1)).total


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


def _category_for(backend: CatalogBackend, product: Product, need: int) -> str | None:
    """The deepest prefix of ``product``'s category path shared by at least ``need`` products."""
    path = list(product.category_path)
    while path:
        category = " > ".join(path)
        if _count(backend, "", SearchFilters(category=category)) >= need:
            return category
        path.pop()
    return None


def _title_terms(product: Product, category: str) -> list[str]:
    banned = {w.casefold() for w in re.findall(r"\w+", (product.brand or "") + " " + category)}
    words = re.findall(r"[A-Za-z][A-Za-z-]{3,}", product.title)
    out = []
    for word in words:
        folded = word.casefold().strip("-")
        if folded in TITLE_NOISE or folded in banned or folded.rstrip("s") in banned or len(folded) < 4:
            continue
        out.append(folded)
    return list(dict.fromkeys(out))


def _rubric(rng: np.random.Generator, n: int, constraints: HardConstraints, persona: Persona) -> Rubric:
    raw = rng.dirichlet([4.0, 4.0, 4.0, 4.0])
    weights = [round(float(w), 2) for w in raw]
    weights[-1] = round(1.0 - sum(weights[:-1]), 2)
    constraint_words = [w for words in constraints.coverage_terms().values() for w in words]
    dims = [
        RubricDimension(
            name="comprehensiveness",
            weight=weights[0],
            criteria=[
                RubricCriterion(
                    text=f"Compares at least {n} distinct catalog products",
                    keywords=["compare", "comparison", "options", "alternatives", "vs"],
                ),
                RubricCriterion(
                    text="Covers price, brand and key specifications of each option",
                    keywords=["price", "brand", "specs", "specifications", "features"],
                ),
            ],
        ),
        RubricDimension(
            name="depth",
            weight=weights[1],
            criteria=[
                RubricCriterion(
                    text="Explains the trade-offs between the options",
                    keywords=["trade-off", "tradeoff", "downside", "drawback", "however", "pros", "cons"],
                ),
                RubricCriterion(
                    text=f"Relates product details to the needs of {persona.description}",
                    keywords=list(persona.preferences) + ["for you", "your needs"],
                ),
            ],
        ),
        RubricDimension(
            name="instruction_following",
            weight=weights[2],
            criteria=[
                RubricCriterion(
                    text="Respects every hard constraint of the request",
                    keywords=constraint_words or ["budget"],
                ),
                RubricCriterion(
                    text="Ends with a clear recommendation",
                    keywords=["recommend", "recommendation", "best choice", "top pick", "verdict"],
                ),
            ],
        ),
        RubricDimension(
            name="readability",
            weight=weights[3],
            criteria=[
                RubricCriterion(
                    text="Is organised with headings or lists", keywords=["#", "\n- ", "\n* ", "\n1."]
                ),
                RubricCriterion(
                    text="Summarises the findings plainly",
                    keywords=["summary", "in short", "overall", "bottom line", "conclusion"],
                ),
            ],
        ),
    ]
    return Rubric(dimensions=dims)


def generate_research_task(
    backend: CatalogBackend,
    rng: np.random.Generator,
    *,
    task_id: str | None = None,
    min_products: int = 3,
    max_attempts: int = 40,
    max_draws: int = 5000,
) -> ResearchTask:
    """One research task grounded in ``backend``'s catalog, fully determined by ``rng``'s state.

    Draws products until one is priced and categorised (at most ``max_draws``), then tries to build a feasible
    task around it (at most ``max_attempts`` such tries). Raises ``ValueError`` when none is found.
    """
    attempts = 0
    for _ in range(max_draws):
        if attempts >= max_attempts:
            break
        seed = random_product(backend, rng)
        if seed is None or seed.price is None or seed.price <= 0 or not seed.category_path:
            continue  # cheap rejection: catalogs may hold many unpriced or uncategorised products
        attempts += 1
        category = _category_for(backend, seed, need=min_products * 3)
        if category is None:
            continue
        budget = nice_budget(float(seed.price) * float(rng.uniform(1.15, 1.8)))
        constraints = HardConstraints(budget_max=budget, currency=seed.currency, category=category)
        feasible = feasible_products(backend, constraints)
        widen = 0
        while len(feasible) < min_products + 1 and widen < 3:
            budget = nice_budget(float(budget) * 1.6)
            constraints = constraints.model_copy(update={"budget_max": budget})
            feasible = feasible_products(backend, constraints)
            widen += 1
        if len(feasible) < min_products + 1:
            continue
        extra = float(rng.random())
        if extra < 0.45:
            for term in rng.permutation(_title_terms(seed, category)).tolist()[:6]:
                trial = constraints.model_copy(update={"must_have": [term]})
                found = feasible_products(backend, trial)
                if len(found) >= min_products:
                    constraints, feasible = trial, found
                    break
        elif extra < 0.65 and seed.brand:
            trial = constraints.model_copy(update={"brands": [seed.brand]})
            found = feasible_products(backend, trial)
            if len(found) >= min_products:
                constraints, feasible = trial, found
        elif extra < 0.85 and seed.rating is not None and seed.rating >= 3.5:
            trial = constraints.model_copy(update={"min_rating": math.floor(seed.rating * 2) / 2 - 0.5})
            found = feasible_products(backend, trial)
            if len(found) >= min_products:
                constraints, feasible = trial, found
        description, preferences = PERSONAS[int(rng.integers(len(PERSONAS)))]
        persona = Persona(description=description, preferences=list(preferences))
        leaf = constraints.category_leaf or category
        thing = leaf if leaf.lower().endswith("s") else f"{leaf} products"
        brand = f" from {constraints.brands[0]}" if constraints.brands else ""
        must = "".join(f' described as "{term}"' for term in constraints.must_have)
        if constraints.min_rating is not None:
            must += f" rated at least {constraints.min_rating} stars"
        template = QUERY_TEMPLATES[int(rng.integers(len(QUERY_TEMPLATES)))]
        query = template.format(
            persona=description,
            thing=thing,
            brand=brand,
            must=must,
            budget=format_money(budget, constraints.currency),
            n=min_products,
        )
        rubric = _rubric(rng, min_products, constraints, persona)
        return ResearchTask(
            task_id=task_id or f"gen-{seed.product_id}-{budget}",
            query=query,
            persona=persona,
            constraints=constraints,
            rubric=rubric,
            min_products=min_products,
            meta={
                "generator": "catalog-v1",
                "seed_product": seed.product_id,
                "snapshot": getattr(backend, "snapshot_id", None),
                "feasible_examples": [p.product_id for p in feasible[:5]],
                "feasible_in_top50": len(feasible),
            },
        )
    raise ValueError(
        f"no feasible research task found ({attempts} tries over {max_draws} draws); "
        "is the catalog priced and categorised?"
    )


def generate_task_set(
    backend: CatalogBackend, n: int, seed: int, *, min_products: int = 3
) -> list[ResearchTask]:
    """``n`` tasks from one seed (task ids ``gen-<seed>-<i>``), for writing a JSONL task set."""
    rng = np.random.default_rng(seed)
    return [
        generate_research_task(backend, rng, task_id=f"gen-{seed}-{i:05d}", min_products=min_products)
        for i in range(n)
    ]
