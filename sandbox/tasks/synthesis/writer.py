"""Query writers and the verifier that a query states every sampled requirement.

A writer turns the sampled requirements of a task into a natural request. The template writer (offline,
deterministic) states each requirement in fixed phrases; an LLM writer (``harness``: ``--writer openai:MODEL``)
may paraphrase, so every query, whoever wrote it, goes through :func:`missing_requirements` and a query that
misses one is rejected.

What "appears" means per requirement: a title when at least half of its distinct words are in the query (the
scorer's own title test is a similarity of at least 0.5); every other requirement when its value (an option or
attribute value, a service, a number written as the price rules and vouchers use it) is in the query, compared
casefolded with whitespace collapsed and thousands separators dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import BaseModel

RequirementKind = Literal["title", "pair", "price", "service", "shop", "voucher", "budget", "knowledge"]
_TOKEN = re.compile(r"[0-9a-z]+")


class Requirement(BaseModel):
    """One sampled requirement: ``phrase`` is how a template states it, ``terms`` what must appear."""

    kind: RequirementKind
    item: int = 0
    phrase: str
    terms: list[str]


class ItemRequirements(BaseModel):
    """The requirements of one requested item, in sampling order."""

    requirements: list[Requirement]


class QueryWriter(Protocol):
    """Writes the user's request from the requirements (one list per item plus task-level ones)."""

    name: str

    def write(
        self, items: Sequence[ItemRequirements], task_level: Sequence[Requirement], seed: int
    ) -> str: ...


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def _norm(text: str) -> str:
    """Casefolded, whitespace collapsed, thousands separators dropped (``₹1,404`` states ``1404``)."""
    return _THOUSANDS.sub("", " ".join(text.casefold().split()))


def appears(requirement: Requirement, query: str) -> bool:
    """Whether ``query`` states ``requirement`` (see the module docstring)."""
    text = _norm(query)
    if requirement.kind == "title":
        words = set(_TOKEN.findall(requirement.terms[0].casefold()))
        found = set(_TOKEN.findall(text))
        return bool(words) and len(words & found) * 2 >= len(words)
    return all(_norm(term) in text for term in requirement.terms)


def missing_requirements(
    query: str, items: Sequence[ItemRequirements], task_level: Sequence[Requirement] = ()
) -> list[Requirement]:
    """Every requirement the query does not state (empty: the query passes the verifier)."""
    reqs = [r for item in items for r in item.requirements] + list(task_level)
    return [r for r in reqs if not appears(r, query)]


_OPENERS = ("I'm looking for", "Please find me", "Can you help me find", "I want to buy", "Show me")


class TemplateWriter:
    """Offline writer: one sentence per item, requirements in fixed phrases, an opener chosen by the seed."""

    name = "template"

    def write(self, items: Sequence[ItemRequirements], task_level: Sequence[Requirement], seed: int) -> str:
        opener = _OPENERS[seed % len(_OPENERS)]
        parts = []
        for n, item in enumerate(items, 1):
            title = next(r.phrase for r in item.requirements if r.kind == "title")
            rest = [r.phrase for r in item.requirements if r.kind != "title"]
            lead = f"{opener} {title}" if n == 1 else f"Item {n}: {title}"
            parts.append(lead + (" with " + "; ".join(rest) if rest else "") + ".")
        if len(items) > 1:
            parts[0] = f"I need {len(items)} products. " + parts[0].replace(opener, "Item 1:", 1)
        parts.extend(r.phrase[:1].upper() + r.phrase[1:] + "." for r in task_level)
        return " ".join(parts)
