"""The env's product_search serves dense and hybrid modes from a snapshot with a dense index."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.env import ProductResearchEnv

PLAN = "Plan: search within the budget with filters, compare the best candidates and report with citations."


def _search(env: ProductResearchEnv, mode: str) -> dict:
    env.reset(seed=0)
    env.step(PLAN)
    obs, _, _, _, info = env.step(
        {
            "name": "product_search",
            "arguments": {"query": "phone case", "mode": mode, "filters": {"price_max": 40}},
        }
    )
    return json.loads(obs.split("\n", 1)[1].split("\n[", 1)[0]), info


def test_hybrid_backend_kind_offers_every_mode(dense_snapshot: Path) -> None:
    env = ProductResearchEnv(snapshot=str(dense_snapshot), backend_kind="hybrid")
    for mode in ("lexical", "dense", "hybrid"):
        result, info = _search(env, mode)
        assert "error" not in result, result
        assert result["hits"] and all(hit["price"] <= 40 for hit in result["hits"])
        assert info["invalid_actions"] == 0


def test_lexical_snapshot_answers_dense_with_a_tool_error(dense_snapshot: Path) -> None:
    env = ProductResearchEnv(snapshot=str(dense_snapshot), backend_kind="lexical")
    result, info = _search(env, "dense")
    assert "error" in result and "mode" in json.dumps(result)
