"""Read the user's request the way an agent does: from the opening chat, never from the hidden task object.

The env writes the request as the query followed by a ``Requirements:`` list (``sandbox.env.prompts``); each
requirement line comes from ``HardConstraints.describe()`` (research tasks) or ``ShoppingTask.requirements()``
(shopping tasks). Parsing those lines back gives the scripted baseline the same information an LLM agent has,
so it stays a policy (it sees what the env shows) rather than an oracle (it never reads the task or catalog).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, Field

from sandbox.tasks.models import category_leaf

_SYMBOLS = {"$": "USD", "₹": "INR", "€": "EUR", "£": "GBP", "₱": "PHP"}
_MONEY = re.compile(
    r"(?P<sym>[$₹€£₱])\s?(?P<num>\d[\d,]*(?:\.\d+)?)"
    r"|(?P<code>[A-Z]{3})\s(?P<num2>\d[\d,]*(?:\.\d+)?)"
    r"|(?P<num3>\d[\d,]*(?:\.\d+)?)\s(?P<code2>[A-Z]{3})\b"
)


class Money(BaseModel):
    amount: Decimal
    currency: str | None = None


def parse_money(text: str) -> Money | None:
    """``$300`` / ``₹32,999`` / ``PHP 256.50`` / ``12 CHF`` -> amount and ISO currency (``None`` if no amount)."""
    match = _MONEY.search(text)
    if match is None:
        bare = re.search(r"\d[\d,]*(?:\.\d+)?", text)
        if bare is None:
            return None
        return Money(amount=_decimal(bare.group(0)))
    if match.group("sym"):
        return Money(amount=_decimal(match.group("num")), currency=_SYMBOLS[match.group("sym")])
    if match.group("code"):
        return Money(amount=_decimal(match.group("num2")), currency=match.group("code"))
    return Money(amount=_decimal(match.group("num3")), currency=match.group("code2"))


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation as exc:  # the regex only admits digits, commas and one dot
        raise ValueError(f"not an amount: {text!r}") from exc


class ParsedRequest(BaseModel):
    """What the request asks for, as the agent can read it."""

    query: str
    requirement_lines: list[str] = Field(default_factory=list)
    kind: str = Field(default="research", description="research (submit_report) or shopping.")
    budget_max: Decimal | None = None
    budget_min: Decimal | None = None
    currency: str | None = None
    category: str | None = None
    brands: list[str] = Field(default_factory=list)
    must_have: list[str] = Field(default_factory=list)
    min_rating: float | None = None
    in_stock: bool = False
    services: list[str] = Field(default_factory=list)
    min_products: int = 3
    items: int = 1
    same_shop: bool = False
    voucher_budget: Decimal | None = None

    @property
    def category_leaf(self) -> str | None:
        return category_leaf(self.category)

    def filters(self) -> dict[str, Any]:
        """``product_search`` filters that enforce every requirement a filter can express."""
        out: dict[str, Any] = {}
        if self.budget_max is not None:
            out["price_max"] = float(self.budget_max)
        if self.budget_min is not None:
            out["price_min"] = float(self.budget_min)
        if self.category:
            out["category"] = self.category
        if self.brands:
            out["brands"] = list(self.brands)
        if self.min_rating is not None:
            out["min_rating"] = self.min_rating
        if self.in_stock:
            out["in_stock"] = True
        if self.services:
            out["services"] = list(self.services)
        return out


def request_text(messages: list[dict[str, Any]]) -> str:
    """The user's request: the first ``user`` message that is not supervisor or environment feedback."""
    for message in messages:
        if message.get("role") == "user" and message.get("name") not in ("supervisor", "environment"):
            return str(message.get("content") or "")
    raise ValueError("the chat has no user request (expected a 'user' message after the system prompt)")


def parse_request(text: str, tool_names: list[str] | None = None) -> ParsedRequest:
    """Parse the request text (query, blank line, ``Requirements:``, ``- ...`` lines)."""
    query, _, tail = text.partition("\nRequirements:")
    lines = [line.strip()[2:].strip() for line in tail.splitlines() if line.strip().startswith("- ")]
    shopping = any(line.startswith("recommend exactly") for line in lines) or (
        tool_names is not None and "recommend_products" in tool_names and "submit_report" not in tool_names
    )
    parsed = ParsedRequest(
        query=query.strip(), requirement_lines=lines, kind="shopping" if shopping else "research"
    )
    for line in lines:
        _apply(parsed, line)
    return parsed


def _apply(parsed: ParsedRequest, line: str) -> None:
    lowered = line.casefold()
    if lowered.startswith("price between "):
        low_text, _, high_text = line[len("price between ") :].partition(" and ")
        low, high = parse_money(low_text), parse_money(high_text)
        if low and high:
            parsed.budget_min, parsed.budget_max = low.amount, high.amount
            parsed.currency = high.currency or low.currency
    elif lowered.startswith("price at most "):
        if money := parse_money(line[len("price at most ") :]):
            parsed.budget_max, parsed.currency = money.amount, money.currency
    elif lowered.startswith("price at least "):
        if money := parse_money(line[len("price at least ") :]):
            parsed.budget_min, parsed.currency = money.amount, money.currency
    elif lowered.startswith("in the category "):
        parsed.category = line[len("in the category ") :].strip().strip("'\"")
    elif lowered.startswith("brand: "):
        parsed.brands = [b.strip() for b in line[len("brand: ") :].split(" or ") if b.strip()]
    elif lowered.startswith("must have: "):
        parsed.must_have.append(line[len("must have: ") :].strip())
    elif lowered.startswith("rated at least "):
        number = re.search(r"\d+(?:\.\d+)?", line)
        parsed.min_rating = float(number.group(0)) if number else None
    elif lowered == "in stock":
        parsed.in_stock = True
    elif lowered.startswith("offers the service "):
        parsed.services.append(line[len("offers the service ") :].strip().strip("'\""))
    elif lowered.startswith("compare at least "):
        number = re.search(r"\d+", line)
        parsed.min_products = int(number.group(0)) if number else parsed.min_products
    elif lowered.startswith("recommend exactly "):
        number = re.search(r"\d+", line)
        parsed.items = int(number.group(0)) if number else 1
    elif "same shop" in lowered:
        parsed.same_shop = True
    elif lowered.startswith("total budget "):
        money = parse_money(line[len("total budget ") :])
        if money:
            parsed.voucher_budget, parsed.currency = money.amount, money.currency
