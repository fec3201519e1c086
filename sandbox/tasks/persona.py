"""Infer a persona and a shopping intent from a behaviour history (rules, deterministic)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from sandbox.tasks.history import BehaviourHistory

PriceSensitivity = Literal["budget", "mid-range", "premium"]

_DESCRIPTIONS = {
    "budget": "a price-conscious shopper who compares prices carefully",
    "mid-range": "a shopper who balances price and quality",
    "premium": "a shopper who pays more for quality and features",
}
_PREFERENCES = {
    "budget": ["low price", "value for money"],
    "mid-range": ["value for money", "reliability"],
    "premium": ["quality", "features"],
}


class InferredPersona(BaseModel):
    price_sensitivity: PriceSensitivity
    brand_affinity: str | None = None
    category: str
    description: str
    preferences: list[str]
    typical_price: Decimal


def infer_persona(history: BehaviourHistory) -> InferredPersona:
    """Price sensitivity from where the history's prices sit in its band; brand affinity from brand shares."""
    prices = sorted(item.price for item in history.items)
    median = prices[len(prices) // 2]
    band_mid = (history.price_low + history.price_high) / 2
    ratio = float(median / band_mid) if band_mid else 1.0
    sensitivity: PriceSensitivity = "budget" if ratio < 0.85 else "premium" if ratio > 1.15 else "mid-range"
    brands = Counter(history.brands())
    affinity = None
    if brands:
        brand, count = brands.most_common(1)[0]
        if count / len(history.items) >= 0.5:
            affinity = brand
    description = _DESCRIPTIONS[sensitivity]
    preferences = list(_PREFERENCES[sensitivity])
    if affinity:
        description += f" and is loyal to {affinity}"
        preferences.append(f"{affinity} products")
    return InferredPersona(
        price_sensitivity=sensitivity,
        brand_affinity=affinity,
        category=history.category,
        description=description,
        preferences=preferences,
        typical_price=median,
    )
