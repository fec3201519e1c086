"""Reading structured answers out of LLM replies.

Every LLM role that expects JSON (supervisor verdicts, user-agent task drafts, judge scores) parses it here, so a
reply is held to one rule everywhere: exactly one JSON object, optionally inside a ```json fence.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def json_object(text: str | None) -> dict[str, Any]:
    """The one JSON object in ``text``; ``ValueError`` saying what is wrong otherwise (fed back on a retry)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty reply; expected one JSON object")
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text.strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not JSON ({exc.msg} at char {exc.pos}): the reply is not one JSON object"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data
