"""Scripted episodes built to trigger supervisor critiques, recorded with ``EpisodeRecorder`` (shared by the
recorder and distill tests; the distill conftest puts this folder on ``sys.path``).

Each episode: a plan that misses the hard constraints (critique), a complete plan, a filtered search, a visit of
the top three hits, a report stating a wrong price for the first product (critique quoting the catalog price),
then the corrected report (accepted, except for seed :data:`UNFINISHED_SEED`, whose corrected report compares only
two products, fewer than the task asks for: that episode stays open and is written unfinished when the next one
starts). Usage is noted per turn as a policy would.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.env import ProductResearchEnv
from sandbox.recorder import EpisodeRecorder
from sandbox.tasks.models import format_money

VAGUE_PLAN = "Plan: search the catalog and compare a few products, then recommend the best one."
SEEDS = (0, 1, 2, 3)
UNFINISHED_SEED = 1


def full_plan(task: dict[str, Any]) -> str:
    c = task["constraints"]
    parts = ["Plan: search the catalog with filters, compare at least three products, check each requirement"]
    if c.get("budget_max"):
        parts.append(f"stay within the budget of {c['budget_max']}")
    if c.get("category"):
        parts.append(f"only consider the category {c['category']}")
    parts += [f"only the brand {b}" for b in c.get("brands") or []]
    parts += [f"each must mention {t}" for t in c.get("must_have") or []]
    if c.get("min_rating") is not None:
        parts.append(f"rated at least {c['min_rating']} stars")
    return ", ".join(parts) + ", then recommend the best one."


def report(task: dict[str, Any], records: list[dict[str, Any]]) -> str:
    c = task["constraints"]
    lines = ["# Recommendation", ""]
    scope = f"I compared {len(records)} options in the category {c.get('category')}"
    if c.get("budget_max"):
        scope += f", all within the budget of {format_money(Decimal(c['budget_max']), c.get('currency'))}"
    lines.append(scope + ".")
    lines += [f"Each option must have {t}, and each record mentions {t}." for t in c.get("must_have") or []]
    for r in records:
        facts = [f"price {format_money(Decimal(str(r['price'])), r.get('currency'))}"]
        if r.get("brand"):
            facts.append(f"brand {r['brand']}")
        if r.get("rating") is not None:
            facts.append(f"rated {r['rating']} stars")
        lines.append(f"- {r['title']} [P:{r['id']}]: {', '.join(facts)}.")
    lines += [
        "",
        "## Trade-offs",
        "However, the cheaper options trade features for price; the pros and cons are about value for money.",
        "",
        "## Verdict",
        f"Overall, I recommend [P:{records[0]['id']}] for you.",
    ]
    return "\n".join(lines)


def _payload(info: dict[str, Any], name: str) -> dict[str, Any]:
    for message in reversed(info["messages"]):
        if message["role"] == "tool" and message["name"] == name:
            return json.loads(message["content"])
    raise AssertionError(f"no {name} result")


def critique_episode(env: EpisodeRecorder, seed: int) -> dict[str, Any]:
    """Run one episode; returns facts the tests check against (wrong and catalog price, first product id)."""
    _, info = env.reset(seed=seed, options={"episode_id": f"ep-{seed}"})
    task = info["task"]
    env.note_usage({"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110})
    env.step(VAGUE_PLAN)
    env.step(full_plan(task))
    c = task["constraints"]
    filters: dict[str, Any] = {"price_max": float(c["budget_max"]), "category": c["category"]}
    if c.get("brands"):
        filters["brands"] = c["brands"]
    if c.get("min_rating") is not None:
        filters["min_rating"] = c["min_rating"]
    query = " ".join(c.get("must_have") or [])
    *_, info = env.step({"name": "product_search", "arguments": {"query": query, "filters": filters}})
    hits = _payload(info, "product_search")["hits"]
    *_, info = env.step({"name": "visit_product", "arguments": {"product_ids": [h["id"] for h in hits[:3]]}})
    records = _payload(info, "visit_product")["products"]
    wrong = [dict(r) for r in records]
    wrong[0]["price"] = round(float(wrong[0]["price"]) * 1.5 + 1, 2)
    env.step({"name": "submit_report", "arguments": {"report": report(task, wrong)}})
    corrected = report(task, records[:2] if seed == UNFINISHED_SEED else records)
    *_, terminated, _, _ = env.step({"name": "submit_report", "arguments": {"report": corrected}})
    return {
        "accepted": terminated,
        "task": task,
        "first_id": records[0]["id"],
        "catalog_price": format_money(Decimal(str(records[0]["price"])), records[0].get("currency")),
        "wrong_price": format_money(Decimal(str(wrong[0]["price"])), wrong[0].get("currency")),
    }


@pytest.fixture(scope="session")
def recorded(
    small_snapshot: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, Any]]]:
    """A traces file with one critique-and-revise episode per seed in ``SEEDS``, and their facts."""
    path = tmp_path_factory.mktemp("traces") / "traces.jsonl"
    env = EpisodeRecorder(
        ProductResearchEnv(small_snapshot),
        path,
        policy={"teacher": "scripted", "models": {"agent": "script"}},
    )
    facts = [critique_episode(env, seed) for seed in SEEDS]
    env.close()
    return path, facts
