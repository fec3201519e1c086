"""The rule-based supervisor on real catalog products: reports, plans, tool calls, recommendations, phases."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.citations import cited_product_ids
from sandbox.supervisor import (
    FinalAnswer,
    Phase,
    PhaseMachine,
    RevisionLimits,
    RuleBasedSupervisor,
    SupervisorContext,
    ToolCallRecord,
)
from sandbox.tasks.feasibility import feasible_products
from sandbox.tasks.models import (
    HardConstraints,
    Persona,
    PriceRange,
    ResearchTask,
    ShoppingTarget,
    ShoppingTask,
    Voucher,
)
from sandbox.tasks.persona import InferredPersona
from sandbox.tasks.template_writer import write_rubric
from sandbox.tools.toolset import build_toolset

CATEGORY = "Cell Phones > All Cell Phones with Plans"


@pytest.fixture(scope="module")
def phone_task(backend) -> ResearchTask:
    import numpy as np

    constraints = HardConstraints(budget_max=Decimal("700"), currency="USD", category=CATEGORY)
    inferred = InferredPersona(
        price_sensitivity="budget",
        category=CATEGORY,
        description="a college student on a tight budget",
        preferences=["low price", "durability"],
        typical_price=Decimal("450"),
    )
    persona = Persona(description=inferred.description, preferences=inferred.preferences)
    return ResearchTask(
        task_id="phones",
        query="Which phone with a plan should I buy for at most $700? Compare at least 3.",
        persona=persona,
        constraints=constraints,
        rubric=write_rubric(np.random.default_rng(0), inferred, constraints, 3),
        min_products=3,
    )


@pytest.fixture(scope="module")
def phones(backend, phone_task):
    found = feasible_products(backend, phone_task.constraints)
    assert len(found) >= 4
    return found[:3]


def _line(product) -> str:
    return f"- {product.title} [P:{product.product_id}]: ${product.price}, by {product.brand}."


def _report(products, extra: str = "", budget_line: str = "All of them stay within the $700 budget.") -> str:
    return "\n".join(
        [
            "# Phones with a plan: my comparison",
            f"I compared three options in {CATEGORY}. {budget_line}",
            *[_line(p) for p in products],
            extra,
            "However, the cheapest one trades features for price: pros and cons are about low price and durability.",
            f"Overall, I recommend [P:{products[0].product_id}] for you.",
        ]
    )


def _check(task, backend, report: str):
    return RuleBasedSupervisor().check_answer(
        FinalAnswer(kind="report", report=report), SupervisorContext(task, backend)
    )


def test_a_correct_report_passes(backend, phone_task, phones) -> None:
    verdict = _check(phone_task, backend, _report(phones))
    assert verdict.passed, [c.render() for c in verdict.critiques]
    assert verdict.details["metrics"]["effective_product_count"] == 3
    assert verdict.details["metrics"]["grounding_accuracy"] == 1.0


def test_a_nonexistent_id_is_named(backend, phone_task, phones) -> None:
    report = _report(phones, extra="- Galaxy Phantom [P:bestbuy:99999999]: $199.99, by Samsung.")
    verdict = _check(phone_task, backend, report)
    assert not verdict.passed
    (critique,) = [c for c in verdict.critiques if c.check == "citations_exist"]
    assert "[P:bestbuy:99999999]" in critique.message and critique.where == "report line 6"


def test_a_wrong_price_is_named(backend, phone_task, phones) -> None:
    product = phones[1]
    wrong = product.price + Decimal("50")
    report = _report(phones).replace(_line(product), _line(product).replace(f"${product.price}", f"${wrong}"))
    verdict = _check(phone_task, backend, report)
    assert [c.check for c in verdict.critiques] == ["claims_grounded"]
    message = verdict.critiques[0].message
    assert f"${wrong}" in message and product.product_id in message and f"${product.price}" in message


def test_a_wrong_brand_is_named(backend, phone_task, phones) -> None:
    others = [
        p
        for p in feasible_products(backend, phone_task.constraints)
        if p.brand and p.brand != phones[0].brand
    ]
    assert others, "the category should have a second brand"
    liar = phones[0].model_copy(update={"brand": others[0].brand})
    report = _report([phones[0], phones[1], others[0]]).replace(_line(phones[0]), _line(liar))
    verdict = _check(phone_task, backend, report)
    assert "claims_grounded" in {c.check for c in verdict.critiques}
    assert any(others[0].brand in c.message and "brand" in c.message for c in verdict.critiques)


def test_a_product_over_budget_is_named(backend, phone_task, phones) -> None:
    expensive = next(
        p
        for p in feasible_products(
            backend, phone_task.constraints.model_copy(update={"budget_max": None}), limit=100
        )
        if p.price is not None and p.price > 700
    )
    verdict = _check(phone_task, backend, _report([*phones, expensive]))
    critiques = [c for c in verdict.critiques if c.check == "products_meet_constraints"]
    assert len(critiques) == 1 and expensive.product_id in critiques[0].message
    assert "'budget'" in critiques[0].message and "over the budget of $700" in critiques[0].message


def test_a_report_that_ignores_a_hard_constraint_is_named(backend, phone_task, phones) -> None:
    verdict = _check(phone_task, backend, _report(phones, budget_line="They are all good phones."))
    (critique,) = [c for c in verdict.critiques if c.check == "constraints_addressed"]
    assert "price at most $700" in critique.message and "(budget)" in critique.message


def test_too_few_products_and_missing_rubric_dimension(backend, phone_task, phones) -> None:
    report = f"{_line(phones[0])}\nBudget $700, category {CATEGORY}."
    checks = {c.check: c for c in _check(phone_task, backend, report).critiques}
    assert "cites 1 distinct catalog products" in checks["enough_products"].message
    assert "rubric_coverage" in checks


def test_plan_checks(backend, phone_task) -> None:
    supervisor, ctx = RuleBasedSupervisor(), SupervisorContext(phone_task, backend)
    good = f"I will search {CATEGORY} with a price filter up to the $700 budget and compare three phones."
    assert supervisor.check_plan(good, ctx).passed
    vague = "I will search for some nice phones and compare them carefully before answering."
    verdict = supervisor.check_plan(vague, ctx)
    assert {c.check for c in verdict.critiques} == {"plan_covers_constraints"}
    assert any("price at most $700" in c.message for c in verdict.critiques)
    assert supervisor.check_plan(None, ctx).critiques[0].check == "plan_present"


def test_tool_call_checks(backend, phone_task) -> None:
    registry = build_toolset(backend, task_kind="research")
    supervisor, ctx = RuleBasedSupervisor(), SupervisorContext(phone_task, backend)

    def record(index: int, args: dict) -> ToolCallRecord:
        outcome = registry.call("product_search", args)
        return ToolCallRecord(
            index=index,
            step=index,
            call_id=f"c{index}",
            name="product_search",
            arguments=outcome.arguments,
            ok=outcome.ok,
            error_kind=outcome.error_kind,
            error=outcome.error,
            result=outcome.result,
        )

    good = record(1, {"query": "galaxy", "filters": {"category": CATEGORY, "price_max": 700}})
    assert supervisor.check_tool_call(good, ctx).passed
    ctx.record_call(good)
    repeat = supervisor.check_tool_call(record(2, dict(good.arguments)), ctx)
    assert [c.check for c in repeat.critiques] == ["tool_call_not_repeated"] and "#1" in repeat.critiques[
        0
    ].message
    irrelevant = supervisor.check_tool_call(record(3, {"query": "cotton kurta"}), ctx)
    assert [c.check for c in irrelevant.critiques] == ["tool_call_relevant"]
    assert '"price_max": 700.0' in irrelevant.critiques[0].fix
    empty = supervisor.check_tool_call(record(4, {"query": "zzqxjv flurbozorg"}), ctx)
    assert "returned no products" in empty.critiques[0].message
    invalid = supervisor.check_tool_call(record(5, {"query": 3}), ctx)
    assert invalid.critiques[0].check == "tool_call_valid"


def test_shopping_recommendation_checks(backend) -> None:
    (bow,) = backend.get_products(["shoppingbench:3706669986"])
    other = next(
        p
        for p in feasible_products(backend, HardConstraints(category="Media, Music & Books"))
        if p.shop_id != bow.shop_id
    )
    task = ShoppingTask(
        task_id="t",
        query="A violin bow and a book from one shop, over 300 pesos each, with COD, budget 400 after the voucher.",
        task_type="voucher",
        items=[
            ShoppingTarget(
                product_id="1",
                titles=["violin bow"],
                price=[PriceRange(mode="greater than", low=300)],
                service=["COD"],
            ),
            ShoppingTarget(product_id="2", titles=["book"]),
        ],
        voucher=Voucher(voucher_type="shop", threshold=100, discount_type="fixed", face_value=20, budget=400),
        same_shop=True,
    )
    verdict = RuleBasedSupervisor().check_answer(
        FinalAnswer(kind="recommendation", product_ids=[bow.product_id, other.product_id]),
        SupervisorContext(task, backend),
    )
    checks = {c.check: c.message for c in verdict.critiques}
    assert "different shops" in checks["same_shop"]
    assert "item 1" in checks["price_ranges"] and "PHP 256" in checks["price_ranges"]
    total = float(bow.price) + float(other.price)
    assert ("budget_after_voucher" in checks) == (total > 400)  # two shops: the shop voucher cannot apply
    if total > 400:
        assert "voucher does not apply" in checks["budget_after_voucher"]
    count = RuleBasedSupervisor().check_answer(
        FinalAnswer(kind="recommendation", product_ids=[bow.product_id]), SupervisorContext(task, backend)
    )
    assert (
        "1 products recommended; the request asks for 2"
        in {c.check: c.message for c in count.critiques}["item_count"]
    )


def test_phase_machine_limits() -> None:
    machine = PhaseMachine(RevisionLimits(plan=1, report=2))
    machine.plan_checked(False)
    assert machine.phase is Phase.plan and machine.plan_revisions_left == 1
    machine.plan_checked(False)
    assert machine.phase is Phase.research and machine.plan_accepted is False
    for expected_left in (2, 1):
        machine.answer_submitted()
        machine.answer_checked(False)
        assert machine.phase is Phase.research and machine.report_revisions_left == expected_left
    machine.answer_submitted()
    machine.answer_checked(False)
    assert machine.done and machine.answer_accepted is False and machine.answer_attempts == 3
    with pytest.raises(RuntimeError):
        machine.answer_submitted()
    accepted = PhaseMachine()
    accepted.plan_checked(True)
    accepted.answer_submitted()
    accepted.answer_checked(True)
    assert accepted.done and accepted.answer_accepted and accepted.snapshot()["phase"] == "done"


def test_citation_parsing_handles_lists_and_prefixes() -> None:
    text = "Compare [P:bestbuy:1, P:bestbuy:2] with [P: webmall:3-1101 ] and [P:bad id]."
    assert cited_product_ids(text) == ["bestbuy:1", "bestbuy:2", "webmall:3-1101"]
