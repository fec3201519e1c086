"""Custom Gymnasium spaces for a chat environment: text observations and message / tool-call actions.

Neither space can be flattened into arrays: an observation is any string, an action is any string (plain text or
a JSON tool call) or an assistant message dict. ``contains`` therefore only checks the type; the env itself
turns anything malformed into an error observation. ``sample()`` is seeded by the space's own generator and
draws a *valid* random tool call (an OpenAI assistant message with one ``tool_calls`` entry), which is what
``gymnasium.utils.env_checker.check_env`` and random-policy smoke tests step with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium.spaces import Space

_PRINTABLE = np.array(list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?-'\"()[]\n"))

SAMPLE_QUERIES = (
    "wireless headphones",
    "laptop",
    "usb c cable",
    "running shoes",
    "coffee maker",
    "phone case",
    "gaming mouse",
    "backpack",
    "smart watch",
    "bluetooth speaker",
    "water bottle",
    "desk lamp",
)
_SORTS = ("relevance", "price_asc", "price_desc", "rating", "popularity")


class TextSpace(Space[str]):
    """Any Python string (observations are chat text of any length)."""

    def __init__(self, sample_length: int = 64, seed: int | np.random.Generator | None = None) -> None:
        self.sample_length = sample_length
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return isinstance(x, str)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        length = int(self.np_random.integers(1, self.sample_length + 1))
        return "".join(self.np_random.choice(_PRINTABLE, size=length).tolist())

    def __repr__(self) -> str:
        return "TextSpace()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextSpace) and other.sample_length == self.sample_length


class AgentActionSpace(Space[Any]):
    """Assistant messages (dicts), JSON tool calls and plain text.

    ``sample()`` returns an assistant message calling one of the read tools in ``tool_names`` with valid,
    randomly drawn arguments (``product_search`` and ``calculate`` when available).
    """

    def __init__(self, tool_names: Sequence[str] = (), seed: int | np.random.Generator | None = None) -> None:
        self.tool_names = tuple(tool_names)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return isinstance(x, (str, Mapping))

    def _arguments(self, name: str) -> dict[str, Any]:
        rng = self.np_random
        if name == "calculate":
            a, b = (round(float(v), 2) for v in rng.uniform(1, 500, size=2))
            op = str(rng.choice(["+", "-", "*", "/"]))
            return {"expression": f"{a} {op} {b}"}
        args: dict[str, Any] = {"query": str(rng.choice(SAMPLE_QUERIES))}
        if rng.random() < 0.3:
            args["sort"] = str(rng.choice(_SORTS))
        if rng.random() < 0.3:
            args["filters"] = {"price_max": int(rng.integers(20, 2000))}
        if rng.random() < 0.2:
            args["page"] = int(rng.integers(1, 4))
        return args

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        choices = [n for n in ("product_search", "calculate") if n in self.tool_names] or ["product_search"]
        name = str(self.np_random.choice(choices))
        call_id = f"call_{int(self.np_random.integers(1_000_000)):06d}"
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(self._arguments(name))},
                }
            ],
        }

    def __repr__(self) -> str:
        return f"AgentActionSpace(tools={list(self.tool_names)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AgentActionSpace) and other.tool_names == self.tool_names
