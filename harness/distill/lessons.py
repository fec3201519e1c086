"""What a critique taught, and how to say it in the agent's own voice.

A :class:`Lesson` is one supervisor critique (or environment note) that a later turn acted on. The offline
rewriter turns it into a deterministic first-person sentence that keeps the critique's facts (the catalog's
price, the missing requirement, the filters to use) while dropping every trace of who said it: no check tags,
no "Fix:", no mention of a supervisor. :func:`anchors` lists those facts so a rewrite can be checked for them.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

LessonKind = Literal["plan", "tool_call", "answer", "environment"]

#: Critiques about the supervisor itself, not about the agent's work: nothing to learn from them.
IGNORED_CHECKS = frozenset({"supervisor_error"})

_QUOTED = re.compile(r"'([^'\n]{1,120})'")
_MONEY = re.compile(r"(?:US\$|\$|₹|₱|€|£|\bRs\.?\s?|\bINR\s?|\bPHP\s?)\d[\d,]*(?:\.\d+)?")
_PRODUCT_ID = re.compile(r"\b[a-z_]+:[A-Za-z0-9._-]+\b")


class Lesson(BaseModel):
    """One critique to internalize."""

    model_config = ConfigDict(frozen=True)

    kind: LessonKind
    check: str
    message: str
    fix: str = ""
    tool: str | None = None


def anchors(lesson: Lesson) -> list[str]:
    """The facts a reflection must keep: quoted terms, money amounts and product ids in the critique."""
    text = f"{lesson.message} {lesson.fix}"
    found = _QUOTED.findall(text) + _MONEY.findall(text) + _PRODUCT_ID.findall(text)
    return list(dict.fromkeys(a.strip() for a in found if a.strip()))


_PERSON = [
    (re.compile(r"\byou will\b", re.IGNORECASE), "I will"),
    (re.compile(r"\byou have\b", re.IGNORECASE), "I have"),
    (re.compile(r"\byou found\b", re.IGNORECASE), "I found"),
    (re.compile(r"\byou read\b", re.IGNORECASE), "I read"),
    (re.compile(r"\byour\b", re.IGNORECASE), "my"),
    (re.compile(r"\byou\b", re.IGNORECASE), "I"),
    (re.compile(r"^the plan\b", re.IGNORECASE), "my plan"),
    (re.compile(r"^the report\b", re.IGNORECASE), "my draft report"),
    (re.compile(r"^the first turn\b", re.IGNORECASE), "my first turn"),
    (re.compile(r"^the call\b", re.IGNORECASE), "the call"),
    (re.compile(r"^this repeats\b", re.IGNORECASE), "it would repeat"),
]


def first_person(text: str) -> str:
    """Rephrase critique text addressed to the agent as the agent's own words."""
    out = text.strip()
    for pattern, replacement in _PERSON:
        out = pattern.sub(replacement, out)
    return out


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _intention(fix: str) -> str:
    """An imperative fix ("State the catalog's price ...") as an intention ("I will state ...")."""
    fix = first_person(fix).strip()
    if not fix:
        return ""
    if fix.lower().startswith(("i ", "i'll", "my ")):
        return _sentence(fix)
    return _sentence("I will " + fix[0].lower() + fix[1:])


_OPENERS: dict[LessonKind, str] = {
    "plan": "Re-reading my plan before I act:",
    "tool_call": "Looking at my {tool} call:",
    "answer": "Checking my draft answer against the catalog and the request before I submit it:",
    "environment": "My previous turn was not a usable action:",
}


_CITATION = re.compile(r"\[P:([^\[\]\n]{1,400})\]")


def uncite(text: str) -> str:
    """``[P:id]`` as a plain id: a reflection talks about products, it does not cite them as evidence."""
    return _CITATION.sub(lambda m: m.group(1).strip(), text)


def reflect(lessons: list[Lesson]) -> str:
    """The offline rewriter: one first-person paragraph per kind of lesson, facts kept verbatim."""
    paragraphs: list[str] = []
    opened: dict[tuple[str, str | None], list[str]] = {}
    for lesson in lessons:
        key = (lesson.kind, lesson.tool if lesson.kind == "tool_call" else None)
        if key not in opened:
            opened[key] = [_OPENERS[lesson.kind].format(tool=lesson.tool or "tool")]
        parts = opened[key]
        parts.append(_sentence(first_person(lesson.message)))
        intention = _intention(lesson.fix)
        if intention and intention not in parts:
            parts.append(intention)
    for parts in opened.values():
        paragraphs.append(" ".join(parts))
    return uncite("\n\n".join(paragraphs))
