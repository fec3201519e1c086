"""The scripted baseline's report: grounded, cited, one section per rubric dimension.

Every fact next to a ``[P:id]`` citation is copied from that product's ``visit_product`` record (price with its
currency, brand, rating, a few short attribute values), one product per line, so the grounding check can match
each claim to exactly one product. Budget arithmetic stays on lines without citations, so limits are never
read as prices.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from harness.policies.request import ParsedRequest
from sandbox.tasks.models import format_money

MAX_ATTRIBUTES = 3
MAX_ATTRIBUTE_CHARS = 40
_NUMBER_IN_TEXT = re.compile(r"\d")


def money(record: dict[str, Any]) -> str | None:
    """The record's price as the catalog states it (``$49.99``, ``₹32,999``), or ``None`` when unpriced."""
    price = record.get("price")
    if price is None:
        return None
    return format_money(Decimal(str(price)), record.get("currency"))


def _clean(text: str) -> str:
    """One line of plain text: no newlines, brackets or table pipes that would confuse the report format."""
    return " ".join(str(text).replace("|", "/").replace("[", "(").replace("]", ")").split())


def attribute_facts(record: dict[str, Any], limit: int = MAX_ATTRIBUTES) -> list[str]:
    """Up to ``limit`` short ``name: value`` facts from the record's attributes, copied verbatim."""
    facts = []
    for name, values in (record.get("attributes") or {}).items():
        if not values:
            continue
        value = _clean(str(values[0]))
        if not value or len(value) > MAX_ATTRIBUTE_CHARS or len(name) > MAX_ATTRIBUTE_CHARS:
            continue
        facts.append(f"{_clean(name)}: {value}")
        if len(facts) >= limit:
            break
    return facts


def product_line(record: dict[str, Any]) -> str:
    """``- [P:id] Title: price $X; brand B; rated 4.5/5; Attr: value.`` with only what the record states."""
    facts = []
    if (price := money(record)) is not None:
        facts.append(f"price {price}")
    if record.get("brand"):
        facts.append(f"brand {_clean(record['brand'])}")
    if record.get("rating") is not None:
        facts.append(f"rated {record['rating']}/5")
    facts.extend(attribute_facts(record))
    title = _clean(record.get("title") or record["id"]).rstrip(".")
    return f"- [P:{record['id']}] {title}: " + ("; ".join(facts) or "see the catalog record") + "."


def table_row(record: dict[str, Any]) -> str:
    price = money(record) or "n/a"
    rating = f"{record['rating']}/5" if record.get("rating") is not None else "n/a"
    brand = _clean(record.get("brand") or "n/a")
    title = _clean(record.get("title") or "")[:60]
    return f"| [P:{record['id']}] | {title} | {brand} | {price} | {rating} |"


def _sorted_by_price(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (r.get("price") is None, r.get("price") or 0, r["id"]))


def pick(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The recommendation: best rating, then lowest price, then id (deterministic)."""
    return sorted(
        records,
        key=lambda r: (
            -(r.get("rating") or 0.0),
            r.get("price") if r.get("price") is not None else 1e18,
            r["id"],
        ),
    )[0]


def write_report(
    request: ParsedRequest,
    records: list[dict[str, Any]],
    *,
    budget_left: str | None = None,
    extra_sections: list[str] | None = None,
) -> str:
    """The Markdown report over ``records`` (all already checked against the requirements)."""
    if not records:
        raise ValueError("write_report needs at least one product record")
    best = pick(records)
    by_price = _sorted_by_price(records)
    cheapest, dearest = by_price[0], by_price[-1]
    leaf = request.category_leaf or "products"
    lines = [f"# Research report: {leaf}", ""]
    lines += ["## Summary", ""]
    lines.append(
        f"Overall, I compared {len(records)} catalog products that meet every requirement of the request "
        f"and recommend [P:{best['id']}] as the best choice for your needs."
    )
    lines += ["", "## Comprehensiveness: the options compared", ""]
    lines += [product_line(r) for r in records]
    lines += ["", "Comparison of price, brand and rating:", ""]
    lines += ["| product | title | brand | price | rating |", "|---|---|---|---|---|"]
    lines += [table_row(r) for r in records]
    lines += ["", "## Depth: trade-offs, pros and cons", ""]
    if cheapest["id"] != dearest["id"]:
        lines.append(
            f"- Pros of [P:{cheapest['id']}]: the lowest price among the options ({money(cheapest)})."
        )
        lines.append(
            f"- Cons of [P:{cheapest['id']}]: however, cheaper options can trade features for price; check the "
            "specifications above."
        )
        lines.append(f"- [P:{dearest['id']}] is the most expensive option here ({money(dearest)}).")
    rated = [r for r in records if r.get("rating") is not None]
    if rated:
        top = max(rated, key=lambda r: (r["rating"], r["id"]))
        lines.append(f"- [P:{top['id']}] has the best rating among the options ({top['rating']}/5).")
    lines.append(
        "- The trade-off for your needs is between price, brand and specifications: the comparison table "
        "shows where each option stands."
    )
    lines += ["", "## Instruction following: requirements check", ""]
    for requirement in request.requirement_lines:
        lines.append(f"- Requirement '{requirement}': met by every product cited in this report.")
    if request.budget_max is not None:
        lines.append(
            f"- Every option is within the budget of {format_money(request.budget_max, request.currency)}."
        )
    if budget_left:
        lines.append(f"- {budget_left}")
    if request.in_stock:
        lines.append("- Every option is in stock (available) according to the catalog.")
    lines += extra_sections or []
    lines += ["", "## Readability: recommendation", ""]
    lines.append(f"- My recommendation (top pick): [P:{best['id']}].")
    lines.append(f"- {product_line(best)[2:]}")
    lines.append(
        "- In short: the verdict balances price, rating and brand; the alternatives above are good "
        "choices if your priorities differ."
    )
    return "\n".join(lines) + "\n"
