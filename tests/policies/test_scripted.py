"""The scripted baseline on real generated tasks over the real small catalog."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from policy_helpers import drive

from harness.policies.request import parse_money, parse_request
from harness.policies.scripted import ScriptedPolicy
from sandbox.env import ProductResearchEnv
from sandbox.env.prompts import task_message
from sandbox.supervisor.protocol import Critique, FinalAnswer, SupervisorContext, Verdict
from sandbox.supervisor.rules import RuleBasedSupervisor
from sandbox.tasks.models import format_money

PRICE_NEXT_TO_CITATION = re.compile(r"^- \[P:([^\]]+)\] .*?: price ([^;.]+(?:\.\d+)?)")


def test_request_parser_reads_every_requirement(research_tasks) -> None:
    for task in research_tasks:
        parsed = parse_request(task_message(task))
        c = task.constraints
        assert parsed.budget_max == c.budget_max and parsed.currency == c.currency
        assert parsed.category == c.category and parsed.brands == c.brands
        assert parsed.must_have == c.must_have and parsed.min_rating == c.min_rating
        assert parsed.min_products == task.min_products
    assert parse_money("₹32,999").amount == Decimal("32999")
    assert parse_money("PHP 256.50").currency == "PHP"


def test_reports_accepted_and_cite_real_products_at_catalog_prices(small_snapshot, backend, research_tasks):
    env = ProductResearchEnv(small_snapshot)
    accepted = 0
    for i, task in enumerate(research_tasks):
        actions, info, reward = drive(env, ScriptedPolicy(), seed=i, options={"task": task})
        accepted += bool(info["accepted"])
        metrics = info["metrics"]
        assert metrics["unknown_ids"] == [] and metrics["claims_disagreeing"] == 0
        report = info["final_answer"]["report"]
        cited = metrics["cited_ids"]
        assert len(cited) >= 1
        products = {p.product_id: p for p in backend.get_products(cited) if p is not None}
        assert set(products) == set(cited)  # every citation is a real catalog product
        checked: set[str] = set()
        for line in report.splitlines():
            match = PRICE_NEXT_TO_CITATION.match(line)
            if match:
                product = products[match.group(1)]
                assert match.group(2).strip() == format_money(product.price, product.currency)
                assert task.constraints.satisfied_by(product)
                checked.add(product.product_id)
        assert checked == set(cited)  # each cited product is listed with its catalog price
        tools_used = {c["function"]["name"] for a in actions for c in a.get("tool_calls") or []}
        assert {"product_search", "visit_product", "submit_report"} <= tools_used
    assert accepted >= 0.8 * len(research_tasks)


def test_same_seed_same_trajectory(small_snapshot, research_tasks) -> None:
    env = ProductResearchEnv(small_snapshot)
    runs = [drive(env, ScriptedPolicy(), seed=3, options={"task": research_tasks[3]}) for _ in range(2)]
    assert json.dumps(runs[0][0]) == json.dumps(runs[1][0])
    assert runs[0][1]["messages"] == runs[1][1]["messages"] and runs[0][2] == runs[1][2]


class RejectFirstCited(RuleBasedSupervisor):
    """The rules, plus one real-format critique on the first report: its first cited product must go."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped: str | None = None

    def check_answer(self, answer: FinalAnswer, ctx: SupervisorContext) -> Verdict:
        verdict = super().check_answer(answer, ctx)
        if self.dropped is None and verdict.passed:
            self.dropped = re.search(r"\[P:([^\]]+)\]", answer.report or "").group(1)
            critique = Critique(
                check="products_meet_constraints",
                message=f"[P:{self.dropped}] is discontinued according to the seller.",
                where="report line 5",
                fix="Replace it with a product that meets every requirement, or drop it.",
            )
            return Verdict.of("answer", verdict.checks, [critique])
        return verdict


def test_reacts_to_a_critique_and_resubmits(small_snapshot, research_tasks) -> None:
    supervisor = RejectFirstCited()
    env = ProductResearchEnv(small_snapshot, supervisor=supervisor)
    actions, info, _ = drive(env, ScriptedPolicy(), seed=0, options={"task": research_tasks[0]})
    submits = [
        json.loads(c["function"]["arguments"])["report"]
        for a in actions
        for c in a.get("tool_calls") or []
        if c["function"]["name"] == "submit_report"
    ]
    assert len(submits) == 2 and info["accepted"]
    assert f"[P:{supervisor.dropped}]" in submits[0]
    assert f"[P:{supervisor.dropped}]" not in submits[1]


def test_shopping_task_recommends_a_product(small_snapshot, shared_data, backend) -> None:
    tasks = shared_data / "shoppingbench" / "synthesize_web_simpleqa_test.jsonl"
    env = ProductResearchEnv(small_snapshot, task_mode="shopping", tasks=tasks)
    results = []
    for i, task_id in enumerate(env.tasks.ids()[:5]):
        actions, info, _ = drive(env, ScriptedPolicy(), seed=i, options={"task_id": task_id})
        final = [
            c for c in actions[-1].get("tool_calls") or [] if c["function"]["name"] == "recommend_products"
        ]
        assert final, "the last action is recommend_products"
        results.append(info["metrics"])
    assert all(r["r_pro"] is not None and len(r["recommended"]) == 1 for r in results)
    recommended = [r["recommended"][0] for r in results]
    assert all(p is not None for p in backend.get_products(recommended))
