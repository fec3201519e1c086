"""Metrics and the configurable terminal reward on real catalog products."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from sandbox.rewards import CompositeReward, EpisodeSummary, RewardConfig, pass_hat_k, report_metrics
from sandbox.rewards.metrics import format_validity
from sandbox.tasks.feasibility import feasible_products
from sandbox.tasks.models import HardConstraints, ResearchTask, Rubric, RubricCriterion, RubricDimension
from sandbox.tasks.shoppingbench import load_shoppingbench

CATEGORY = "Cell Phones > All Cell Phones with Plans"


@pytest.fixture(scope="module")
def task() -> ResearchTask:
    rubric = Rubric(
        dimensions=[RubricDimension(name="depth", weight=1.0, criteria=[RubricCriterion(text="x")])]
    )
    constraints = HardConstraints(budget_max=Decimal("500"), currency="USD", category=CATEGORY)
    return ResearchTask(task_id="r", query="phones under $500", constraints=constraints, rubric=rubric)


def test_report_metrics(backend, task) -> None:
    ok = feasible_products(backend, task.constraints)[:2]
    pricey = next(
        p for p in feasible_products(backend, HardConstraints(category=CATEGORY), limit=100) if p.price > 500
    )
    report = "\n".join(
        [f"[P:{p.product_id}] costs ${p.price}." for p in ok]
        + [f"[P:{pricey.product_id}] costs $1.", "[P:bestbuy:0] is gone.", f"Again [P:{ok[0].product_id}]."]
    )
    metrics, products, checks = report_metrics(report, backend, task.constraints)
    assert metrics.cited_ids == [ok[0].product_id, ok[1].product_id, pricey.product_id, "bestbuy:0"]
    assert metrics.unknown_ids == ["bestbuy:0"]
    assert metrics.effective_product_count == 3
    assert metrics.constraint_satisfying_count == 2
    assert metrics.constraint_satisfaction == pytest.approx(2 / 3)
    assert (metrics.claims_checked, metrics.claims_disagreeing) == (3, 1)
    assert metrics.grounding_accuracy == pytest.approx(2 / 3)


def test_composite_reward_research(backend, task) -> None:
    ok = feasible_products(backend, task.constraints)[:3]
    report = "\n".join(f"[P:{p.product_id}] costs ${p.price}." for p in ok)
    reward = CompositeReward(RewardConfig(epc_target=6))
    summary = EpisodeSummary(task=task, report=report, accepted=True, actions=5, valid_actions=4)
    result = reward(summary, backend)
    assert result.components == {
        "accepted": 1.0,
        "effective_products": 0.5,
        "grounding": 1.0,
        "constraints": 1.0,
        "format": 0.8,
    }
    assert result.total == pytest.approx(0.3 + 0.2 * 0.5 + 0.2 + 0.2 + 0.1 * 0.8)
    nothing = reward(EpisodeSummary(task=task, actions=2, valid_actions=2), backend)
    assert nothing.total == 0.0 and nothing.metrics["effective_product_count"] == 0  # no answer: 0


def test_composite_reward_shopping(backend, web_tasks_file) -> None:
    task = load_shoppingbench(web_tasks_file)[0]
    right = EpisodeSummary(
        task=task, recommended=[task.items[0].catalog_id()], accepted=True, actions=3, valid_actions=3
    )
    result = CompositeReward()(right, backend)
    assert result.components == {
        "success": 1.0,
        "r_pro": 1.0,
        "format": 1.0,
    } and result.total == pytest.approx(1.0)
    wrong = EpisodeSummary(task=task, recommended=["bestbuy:3953367"], actions=3, valid_actions=3)
    assert CompositeReward()(wrong, backend).components["success"] == 0.0


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="unknown reward components"):
        RewardConfig(shopping_weights={"vibes": 1.0})
    with pytest.raises(ValidationError, match="non-negative"):
        RewardConfig(research_weights={"accepted": -1.0})


def test_small_metrics() -> None:
    assert format_validity(3, 4) == 0.75 and format_validity(0, 0) == 0.0
    assert pass_hat_k(3, 4, 2) == pytest.approx(3 / 6)
    assert pass_hat_k(4, 4, 4) == 1.0 and pass_hat_k(1, 4, 2) == 0.0
    with pytest.raises(ValueError):
        pass_hat_k(1, 2, 3)


def test_nothing_to_measure_is_neutral_not_a_penalty() -> None:
    """Regression: a report without a checkable claim got grounding 0.0, costing its whole weight."""
    from sandbox.rewards.reward import _combine

    weights = {
        "accepted": 0.3,
        "effective_products": 0.2,
        "grounding": 0.2,
        "constraints": 0.2,
        "format": 0.1,
    }
    metrics: dict = {}
    perfect = dict.fromkeys(weights, 1.0)
    breakdown = _combine({**perfect, "grounding": None}, weights, metrics)
    assert breakdown.total == pytest.approx(1.0) and "grounding" not in breakdown.components
    assert sum(breakdown.weights.values()) == pytest.approx(1.0) and metrics["unmeasured"] == ["grounding"]
    assert breakdown.weights["accepted"] == pytest.approx(0.3 / 0.8)
    assert _combine(perfect, weights, {}).weights == weights
