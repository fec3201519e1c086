"""The template writer (offline, the generator's default): history + persona -> task with constraints and a rubric.

The budget follows the persona's price sensitivity above the history's typical price; the category is the
history's; a brand-loyal persona asks for its brand. Every constraint set is checked against the catalog (at
least ``min_products`` + 1 feasible products, via :func:`sandbox.tasks.feasibility.feasible_products`), widening
the budget or dropping the brand when needed. The rubric has the four RACE dimensions with seeded weights summing
to 1 and weighted criteria derived from the persona.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from sandbox.catalog.backend import CatalogBackend
from sandbox.tasks.feasibility import feasible_products, nice_budget
from sandbox.tasks.history import BehaviourHistory, TaskDraw
from sandbox.tasks.models import (
    HardConstraints,
    Persona,
    ResearchTask,
    Rubric,
    RubricCriterion,
    RubricDimension,
    format_money,
)
from sandbox.tasks.persona import InferredPersona

_BUDGET_FACTOR = {"budget": 1.05, "mid-range": 1.25, "premium": 1.5}
_TEMPLATES = (
    "I've been looking at {things} lately and already bought {bought}. As {persona}, I want another one{brand} "
    "for at most {budget}. Compare at least {n} options from the catalog and tell me which to buy.",
    "Based on what I usually buy ({bought}), I need {things}{brand} under {budget}. I am {persona}. Please "
    "research at least {n} products, weigh their trade-offs and give me a clear recommendation.",
)


class TaskInfeasible(ValueError):
    """The constraints written for a history leave too few catalog products."""


def _round2(values: list[float]) -> list[float]:
    rounded = [round(v, 2) for v in values]
    rounded[-1] = round(1.0 - sum(rounded[:-1]), 2)
    return rounded


def write_rubric(
    rng: np.random.Generator, persona: InferredPersona, constraints: HardConstraints, n: int
) -> Rubric:
    """Four dimensions (comprehensiveness, depth, instruction_following, readability), weights sum to 1."""
    weights = _round2([float(w) for w in rng.dirichlet([5.0, 5.0, 4.0, 3.0])])
    constraint_words = [w for words in constraints.coverage_terms().values() for w in words] or ["budget"]
    depth = [
        RubricCriterion(
            text="Explains the trade-offs (pros and cons) between the options",
            weight=2.0,
            keywords=["trade-off", "pros", "cons", "drawback", "however"],
        ),
        RubricCriterion(
            text=f"Relates the options to a {persona.price_sensitivity} shopper's priorities "
            f"({', '.join(persona.preferences)})",
            weight=1.0,
            keywords=[*persona.preferences, "your needs", "for you"],
        ),
    ]
    if persona.brand_affinity:
        depth.append(
            RubricCriterion(
                text=f"Says how the options compare with {persona.brand_affinity}",
                weight=1.0,
                keywords=[persona.brand_affinity, "brand"],
            )
        )
    dims = [
        RubricDimension(
            name="comprehensiveness",
            weight=weights[0],
            criteria=[
                RubricCriterion(
                    text=f"Compares at least {n} distinct catalog products",
                    weight=2.0,
                    keywords=["compare", "compared", "comparison", "options"],
                ),
                RubricCriterion(
                    text="Gives price, brand and rating of each option",
                    weight=1.0,
                    keywords=["price", "brand", "rating", "rated"],
                ),
            ],
        ),
        RubricDimension(name="depth", weight=weights[1], criteria=depth),
        RubricDimension(
            name="instruction_following",
            weight=weights[2],
            criteria=[
                RubricCriterion(
                    text="Respects every hard constraint of the request",
                    weight=2.0,
                    keywords=constraint_words,
                ),
                RubricCriterion(
                    text="Ends with a clear recommendation",
                    weight=1.0,
                    keywords=["recommend", "recommendation", "top pick", "verdict"],
                ),
            ],
        ),
        RubricDimension(
            name="readability",
            weight=weights[3],
            criteria=[
                RubricCriterion(
                    text="Uses headings, lists or a table", weight=1.0, keywords=["#", "\n- ", "|"]
                ),
                RubricCriterion(
                    text="Opens or closes with a plain summary",
                    weight=1.0,
                    keywords=["summary", "overall", "in short"],
                ),
            ],
        ),
    ]
    return Rubric(dimensions=dims)


def feasible_constraints(
    backend: CatalogBackend, history: BehaviourHistory, persona: InferredPersona, min_products: int
) -> HardConstraints:
    """Budget, currency, category (and brand for a loyal persona) with enough feasible catalog products."""
    budget = nice_budget(float(persona.typical_price) * _BUDGET_FACTOR[persona.price_sensitivity])
    base = HardConstraints(budget_max=budget, currency=history.currency, category=history.category)
    trials = []
    if persona.brand_affinity:
        trials.append(base.model_copy(update={"brands": [persona.brand_affinity]}))
    trials.append(base)
    for constraints in trials:
        current = constraints
        for _ in range(4):
            if len(feasible_products(backend, current)) >= min_products + 1:
                return current
            current = current.model_copy(
                update={"budget_max": nice_budget(float(current.budget_max or Decimal(1)) * 1.5)}
            )
    raise TaskInfeasible(f"fewer than {min_products + 1} feasible products in {history.category!r}")


def write_task(draw: TaskDraw) -> ResearchTask:
    """The offline user agent's task for ``draw.history`` (raises :class:`TaskInfeasible` when none fits)."""
    backend, history, persona, rng = draw.backend, draw.history, draw.persona, draw.rng
    min_products = draw.min_products
    constraints = feasible_constraints(backend, history, persona, min_products)
    leaf = constraints.category_leaf or history.category
    things = leaf if leaf.lower().endswith("s") else f"{leaf} products"
    bought = "; ".join(f'"{i.title[:60]}"' for i in history.purchased()[:2])
    brand = f" from {constraints.brands[0]}" if constraints.brands else ""
    template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    query = template.format(
        things=things,
        bought=bought,
        persona=persona.description,
        brand=brand,
        budget=format_money(constraints.budget_max or 0, constraints.currency),
        n=min_products,
    )
    return ResearchTask(
        task_id=draw.task_id,
        query=query,
        persona=Persona(description=persona.description, preferences=persona.preferences),
        constraints=constraints,
        rubric=write_rubric(rng, persona, constraints, min_products),
        min_products=min_products,
        meta={
            "generator": "user-agent-template-v1",
            "history": history.model_dump(mode="json"),
            "persona": persona.model_dump(mode="json"),
            "snapshot": getattr(backend, "snapshot_id", None),
        },
    )


class TemplateTaskWriter:
    """The offline writer as a generator strategy (:class:`sandbox.tasks.generator.TaskWriter`): fixed phrases
    filled from the history and persona, deterministic given the task's generator."""

    name = "template"

    def write(self, draw: TaskDraw) -> ResearchTask:
        return write_task(draw)
