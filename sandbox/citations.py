"""Citations in reports: ``[P:<product_id>]`` for catalog products and ``[W:<url>]`` for web pages.

Product ids are source-qualified (``bestbuy:4984700``, ``shoppingbench:3706669986``) and may themselves contain
colons, so a citation runs to the closing bracket. One bracket may list several ids separated by commas or
semicolons (``[P:a, P:b]`` or ``[P:a; b]``); each becomes its own :class:`Citation` with its position.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

_PRODUCT = re.compile(r"\[P:([^\[\]\n]{1,400})\]")
_WEB = re.compile(r"\[W:\s*([^\]\s]{1,2000})\s*\]")


class Citation(BaseModel):
    """One cited id (or url) and where it stands: character offsets and 1-based line number."""

    kind: Literal["product", "web"]
    target: str
    start: int
    end: int
    line: int


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _line_of(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo + 1


def product_citations(text: str) -> list[Citation]:
    """Every ``[P:...]`` citation in order (one entry per id when a bracket lists several)."""
    starts = _line_starts(text)
    out = []
    for match in _PRODUCT.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            target = part.strip()
            if target.upper().startswith("P:"):
                target = target[2:].strip()
            if target and not any(c.isspace() for c in target):
                out.append(
                    Citation(
                        kind="product",
                        target=target,
                        start=match.start(),
                        end=match.end(),
                        line=_line_of(starts, match.start()),
                    )
                )
    return out


def web_citations(text: str) -> list[Citation]:
    starts = _line_starts(text)
    return [
        Citation(
            kind="web", target=m.group(1), start=m.start(), end=m.end(), line=_line_of(starts, m.start())
        )
        for m in _WEB.finditer(text)
    ]


def cited_product_ids(text: str) -> list[str]:
    """Distinct cited product ids in first-cited order."""
    return list(dict.fromkeys(c.target for c in product_citations(text)))
