"""Helpers shared by the env tests (imported as ``env_helpers``; pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import json
from decimal import Decimal

from sandbox.tasks.models import format_money


def plan_for(info: dict) -> str:
    """A plan that mentions every hard constraint of the task in ``info`` (research tasks)."""
    constraints = info["task"]["constraints"]
    parts = ["Plan: search the catalog with filters, compare at least three products, check each requirement"]
    if constraints.get("budget_max"):
        parts.append(f"stay within the budget of {constraints['budget_max']}")
    if constraints.get("category"):
        parts.append(f"only consider the category {constraints['category']}")
    for brand in constraints.get("brands") or []:
        parts.append(f"only the brand {brand}")
    for term in constraints.get("must_have") or []:
        parts.append(f"each must mention {term}")
    if constraints.get("min_rating") is not None:
        parts.append(f"rated at least {constraints['min_rating']} stars")
    return ", ".join(parts) + ", then recommend the best one."


def tool_payloads(info: dict, name: str) -> list[dict]:
    """Parsed JSON contents of every successful ``name`` tool message in the chat so far."""
    out = []
    for message in info["messages"]:
        if message["role"] == "tool" and message["name"] == name:
            body = json.loads(message["content"])
            if "error" not in body:
                out.append(body)
    return out


def write_report(task: dict, products: list[dict]) -> str:
    """A report that cites ``products`` (visit_product records) with their catalog prices, brands and ratings."""
    constraints = task["constraints"]
    lines = ["# Recommendation", ""]
    budget = constraints.get("budget_max")
    scope = [f"I compared {len(products)} options"]
    if constraints.get("category"):
        scope.append(f"in the category {constraints['category']}")
    if budget:
        scope.append(f"all within the budget of {format_money(Decimal(budget), constraints.get('currency'))}")
    lines.append(" ".join(scope) + ".")
    for term in constraints.get("must_have") or []:
        lines.append(f"Each option must have {term}, and each record mentions {term}.")
    lines.append("")
    for record in products:
        facts = []
        if record.get("price") is not None:
            facts.append(f"price {format_money(Decimal(str(record['price'])), record.get('currency'))}")
        if record.get("brand"):
            facts.append(f"brand {record['brand']}")
        if record.get("rating") is not None:
            facts.append(f"rated {record['rating']} stars")
        lines.append(
            f"- {record['title']} [P:{record['id']}]: {', '.join(facts) or 'see the catalog record'}."
        )
    lines += [
        "",
        "## Trade-offs",
        "However, the cheaper options trade features for price; the pros and cons are about value for money.",
        "",
        "## Verdict",
        f"Overall, I recommend [P:{products[0]['id']}] for you.",
    ]
    return "\n".join(lines)


def scripted_research_episode(env, seed: int) -> list[tuple]:
    """Plan, filtered search, visit the top three, calculate, submit a grounded report; returns every step."""
    observation, info = env.reset(seed=seed)
    steps = [(observation, 0.0, False, False, info)]
    task = info["task"]
    steps.append(env.step(plan_for(info)))
    filters = {}
    constraints = task["constraints"]
    if constraints.get("budget_max"):
        filters["price_max"] = float(constraints["budget_max"])
    if constraints.get("category"):
        filters["category"] = constraints["category"]
    if constraints.get("brands"):
        filters["brands"] = constraints["brands"]
    if constraints.get("min_rating") is not None:
        filters["min_rating"] = constraints["min_rating"]
    query = " ".join(constraints.get("must_have") or [])
    search = {"name": "product_search", "arguments": {"query": query, "filters": filters}}
    steps.append(env.step(search))
    hits = tool_payloads(steps[-1][4], "product_search")[-1]["hits"]
    ids = [h["id"] for h in hits[:3]]
    steps.append(env.step({"name": "visit_product", "arguments": {"product_ids": ids, "goal": "prices"}}))
    records = tool_payloads(steps[-1][4], "visit_product")[-1]["products"]
    total = " + ".join(str(r["price"]) for r in records)
    steps.append(env.step(json.dumps({"name": "calculate", "arguments": {"expression": total}})))
    report = write_report(task, records)
    steps.append(
        env.step(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "final",
                        "type": "function",
                        "function": {"name": "submit_report", "arguments": json.dumps({"report": report})},
                    }
                ],
            }
        )
    )
    return steps
