"""What a policy learns from the env's messages: tool results (JSON text) and supervisor feedback.

The env answers every tool call with a ``tool`` message whose content is JSON (or a JSON error), and gathers
failed checks into one ``user`` message named ``supervisor`` whose lines read ``- [check] where: message Fix:
fix``. These helpers turn both into plain data so a policy can react to them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

SUPERVISOR_PREFIX = "[supervisor]"
_CRITIQUE = re.compile(r"^- \[(?P<check>[\w:-]+)\] (?P<body>.*)$")
_CITATION = re.compile(r"\[P:([^\]]+)\]")
_QUOTED = re.compile(r"'([^']+)'")


class Critique(BaseModel):
    """One critique line of a supervisor message."""

    check: str
    text: str

    def product_ids(self) -> list[str]:
        """Product ids the critique names as ``[P:id]`` (each bracket may hold several, comma-separated)."""
        out: list[str] = []
        for group in _CITATION.findall(self.text):
            out.extend(part.strip() for part in group.split(",") if part.strip())
        return list(dict.fromkeys(out))

    def quoted(self) -> list[str]:
        """Phrases in single quotes (requirements, dimension names) in the critique's message part."""
        message = self.text.split(" Fix: ", 1)[0]
        return _QUOTED.findall(message)


class Feedback(BaseModel):
    """One supervisor message: its headline and critiques."""

    headline: str
    critiques: list[Critique]

    @property
    def plan_rejected(self) -> bool:
        return "Plan rejected" in self.headline and "revise your plan" in self.headline


def parse_feedback(content: str) -> Feedback | None:
    """A supervisor message's critiques (``None`` for other messages)."""
    if not content.startswith(SUPERVISOR_PREFIX):
        return None
    body = content[len(SUPERVISOR_PREFIX) :].strip()
    critiques: list[Critique] = []
    headline: list[str] = []
    for line in body.splitlines():
        match = _CRITIQUE.match(line.strip())
        if match:
            critiques.append(Critique(check=match.group("check"), text=match.group("body")))
        elif critiques and line.startswith(" "):
            critiques[-1] = Critique(check=critiques[-1].check, text=critiques[-1].text + " " + line.strip())
        else:
            headline.append(line.strip())
    return Feedback(headline="\n".join(headline), critiques=critiques)


def tool_payload(message: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON body of a ``tool`` message (``None`` when it is not JSON or not an object)."""
    try:
        body = json.loads(str(message.get("content") or ""))
    except json.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None
