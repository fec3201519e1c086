"""Requirement checks the scripted baseline runs on what the tools returned (hits and product records).

The baseline verifies every candidate against the parsed request before citing it, exactly as a careful human
researcher would with the product page open: price and currency within the budget, category prefix, brand,
must-have terms in the record's text, rating, stock and services.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from harness.policies.request import ParsedRequest


def _norm(text: str) -> str:
    return " ".join(str(text).casefold().split())


def _mentions(text: str, term: str) -> bool:
    folded = term.strip().casefold()
    if not folded:
        return False
    left = r"(?<!\w)" if folded[:1].isalnum() else ""
    right = r"(?!\w)" if folded[-1:].isalnum() else ""
    return re.search(left + re.escape(folded) + right, text.casefold()) is not None


def record_text(record: dict[str, Any]) -> str:
    """Everything a must-have term may be found in (title, brand, category, attributes, options, text)."""
    parts = [record.get("title") or "", record.get("brand") or "", record.get("category") or ""]
    for name, values in (record.get("attributes") or {}).items():
        parts.append(f"{name}: {', '.join(str(v) for v in values)}")
    for option in record.get("options") or []:
        parts.append(" ".join(f"{k}: {v}" for k, v in option.items()))
    parts.extend(record.get("bullet_points") or [])
    parts.append(record.get("description") or "")
    return "\n".join(parts)


def problems(request: ParsedRequest, item: dict[str, Any], *, full_record: bool) -> list[str]:
    """Requirements ``item`` (a search hit or a visited record) fails; must-have terms need the full record."""
    out: list[str] = []
    price = item.get("price")
    if request.budget_max is not None or request.budget_min is not None:
        if price is None:
            out.append("no price")
        elif request.currency and item.get("currency") and item["currency"] != request.currency:
            out.append(f"priced in {item['currency']}")
        else:
            value = Decimal(str(price))
            if request.budget_max is not None and value > request.budget_max:
                out.append("over budget")
            if request.budget_min is not None and value < request.budget_min:
                out.append("under the minimum price")
    if request.category:
        wanted = " > ".join(_norm(p) for p in request.category.replace("/", ">").split(">") if p.strip())
        have = " > ".join(_norm(p) for p in str(item.get("category") or "").split(">") if p.strip())
        if not (have == wanted or have.startswith(wanted + " > ")):
            out.append("other category")
    if request.brands and _norm(item.get("brand") or "") not in {_norm(b) for b in request.brands}:
        out.append("other brand")
    if request.min_rating is not None and (item.get("rating") is None or item["rating"] < request.min_rating):
        out.append("rating too low")
    if full_record:
        text = record_text(item)
        out.extend(f"lacks '{term}'" for term in request.must_have if not _mentions(text, term))
        if request.in_stock and item.get("in_stock") is not True:
            out.append("not known to be in stock")
        offered = {_norm(s) for s in item.get("services") or []}
        out.extend(f"lacks service '{s}'" for s in request.services if _norm(s) not in offered)
    return out
