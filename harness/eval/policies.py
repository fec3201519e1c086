"""Reference policies for ``prgym eval``: the oracle (the ceiling) and a random policy (the floor).

The oracle knows the task: it states a plan, then recommends the target products. On a synthesized task it must
reach ASR 1.0; anything less means the task or the scorer is wrong. The random policy searches one random word
of the request and recommends random hits, one per requested item (seeded, so its floor is reproducible).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from harness.policies.observations import tool_payload
from sandbox.tasks.models import ShoppingTask


def _call(turn: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{turn}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


class OraclePolicy:
    """Recommends the task's target products (after a one-line plan)."""

    def __init__(self, task: ShoppingTask) -> None:
        self.ids = [item.catalog_id(task.catalog_source) for item in task.items]
        self.turn = 0

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        self.turn += 1
        if self.turn == 1:
            return {
                "role": "assistant",
                "content": "Plan: search the catalog for each requested item, check every requirement, "
                "then recommend the products that meet them all.",
            }
        return _call(self.turn, "recommend_products", {"product_ids": self.ids})


class RandomPolicy:
    """Searches a random word of the request, then recommends random hits (one per item)."""

    def __init__(self, task: ShoppingTask, seed: int) -> None:
        self.n_items = len(task.items)
        self.words = [w for w in task.query.split() if w.isalpha() and len(w) > 3] or ["product"]
        self.rng = np.random.default_rng(seed)
        self.turn = 0

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        self.turn += 1
        if self.turn == 1:
            return {"role": "assistant", "content": "Plan: search the catalog and recommend what comes up."}
        if self.turn == 2:
            word = self.words[int(self.rng.integers(len(self.words)))]
            return _call(self.turn, "product_search", {"query": word})
        hits: list[str] = []
        for message in messages:
            if message.get("role") == "tool" and message.get("name") == "product_search":
                body = tool_payload(message) or {}
                hits += [
                    h["id"]
                    for h in body.get("hits") or []
                    if isinstance(h, dict) and isinstance(h.get("id"), str)
                ]
        hits = list(dict.fromkeys(hits))
        if not hits:
            return {"role": "assistant", "content": "No products found."}
        picks = [
            hits[int(i)] for i in self.rng.choice(len(hits), size=min(self.n_items, len(hits)), replace=False)
        ]
        return _call(self.turn, "recommend_products", {"product_ids": picks})
