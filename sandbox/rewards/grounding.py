"""Grounding: do the claims a report makes next to a product citation agree with the catalog record?

Claim extraction is deliberately simple, so that every verdict can be explained in one sentence:

1. **Units.** The report is split into lines, lines into sentences (at ``.``/``!``/``?`` followed by a space,
   except after ``Rs.``, ``vs.``, ``No.``, ``e.g.``, ``i.e.``, ``approx.``).
   A sentence citing several different products is split further at ``;``, ``, while``, ``, whereas``,
   ``, but``, `` vs``/`` versus`` and ``, `` so that each part talks about its own product. A unit's claims
   are about the products it cites; units without a ``[P:...]`` citation are not checked.
2. **Claims** in a unit:

   * *price*: money amounts with a currency marker (``$49.99``, ``₹32,999``, ``PHP 256``, ``1,299 INR``).
     Amounts that read as limits or differences (after "budget", "under", "below", "up to", "save", "off",
     "than", ...; or followed by "budget"/"cheaper"/"more"/"less") are not price claims. The unit's price claim
     *agrees* when any remaining amount is within 1% of a cited product's catalog price in the same currency.
     For products whose catalog has no currency (WebMall, Icecat), a bare amount after a price cue is a price
     claim too (``price 199.99``, ``priced at 199.99``, ``costs 199.99``, ``at 199.99``, ``for 199.99``).
   * *rating*: ``4.5/5``, ``4.5 out of 5``, ``4.5 stars``, ``rated 4.5``: agrees within 0.05.
   * *brand*: a capitalised mention of a brand that belongs to some product cited in the report agrees when a
     product cited in the unit has that brand or has it in its title.
   * *attribute*: a number with a unit (``8 GB``, ``55-inch``, ``30 hours``, ``1200 mAh``, ...) agrees when the
     product record (title, attributes, options, bullets, description) states that number with that unit,
     disagrees when the record states the unit only with other numbers, and cannot be checked otherwise.

Grounding accuracy is agreeing claims / checkable claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel

from sandbox.catalog.product import Product
from sandbox.catalog.search import normalize_key
from sandbox.citations import product_citations
from sandbox.tasks.models import format_money, product_text

ClaimKind = Literal["price", "rating", "brand", "attribute"]
Verdict = Literal["agrees", "disagrees", "unverifiable"]

PRICE_TOLERANCE = Decimal("0.01")  # relative
RATING_TOLERANCE = 0.05

_CURRENCY_CODES = {
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "dollars": "USD",
    "dollar": "USD",
    "₹": "INR",
    "rs": "INR",
    "rs.": "INR",
    "inr": "INR",
    "rupees": "INR",
    "₱": "PHP",
    "php": "PHP",
    "pesos": "PHP",
    "peso": "PHP",
    "€": "EUR",
    "eur": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
}
_NUMBER = r"\d{1,3}(?:,\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MONEY = re.compile(
    rf"(?P<pre>US\$|\$|₹|₱|€|£|\bRs\.?|\bINR|\bPHP|\bUSD|\bEUR|\bGBP)\s?(?P<num>{_NUMBER})"
    rf"|(?<![\w.])(?P<num2>{_NUMBER})\s?(?P<post>USD|INR|PHP|EUR|GBP|dollars?|rupees|pesos?|euros)\b",
    re.IGNORECASE,
)
_BARE_PRICE = re.compile(
    rf"(?<!\w)(?:price[ds]?|priced|costs?|costing|at|for)\s*(?:is|of|at|:)?\s*(?<![\w.])(?P<num>{_NUMBER})"
    r"(?![\w.,]*\d)(?!\s?-?\s?(?:/|out of\b|stars?\b|★|%|\"|”|″|x\b|people\b|pcs\b|pieces\b|pack\b|"
    r"inch(?:es)?\b|in\.|[gtm]b\b|mah\b|watts?\b|w\b|[gm]?hz\b|megapixels?\b|mp\b|[mc]m\b|kg\b|lbs?\b|"
    r"hours?\b|hrs?\b|ml\b|volts?\b|v\b))",
    re.IGNORECASE,
)
_LIMIT_BEFORE = re.compile(
    r"(?<!\w)(budget|under|below|less than|more than|up to|within|save|saving|savings|off|discount|than|over|"
    r"above|limit|max(imum)?|min(imum)?|cap|threshold|extra|additional)(?!\w)\W{0,3}(\w+\W{1,3}){0,2}$",
    re.IGNORECASE,
)
_LIMIT_AFTER = re.compile(
    r"^\W{0,3}(budget|cheaper|more|less|off|limit|cap|difference|saving)", re.IGNORECASE
)
_RATING = re.compile(
    r"(?<![\d.,/])(?P<a>\d(?:\.\d{1,2})?)\s*(?:/\s*5\b|out of 5\b|stars?\b|★)|\brated\s+(?P<b>\d(?:\.\d{1,2})?)\b",
    re.IGNORECASE,
)
_UNITS = {
    "inch": "inch",
    "inches": "inch",
    "in.": "inch",
    '"': "inch",
    "”": "inch",
    "″": "inch",
    "gb": "GB",
    "tb": "TB",
    "mb": "MB",
    "mah": "mAh",
    "w": "W",
    "watt": "W",
    "watts": "W",
    "hz": "Hz",
    "ghz": "GHz",
    "mhz": "MHz",
    "mp": "MP",
    "megapixel": "MP",
    "mm": "mm",
    "cm": "cm",
    "kg": "kg",
    "lb": "lb",
    "lbs": "lb",
    "hours": "hour",
    "hour": "hour",
    "hrs": "hour",
    "hr": "hour",
    "ml": "ml",
    "v": "V",
    "volt": "V",
    "volts": "V",
}
_QUANTITY = re.compile(
    r"(?<![\w.])(?P<num>\d+(?:\.\d+)?)\s?-?\s?(?P<unit>inches|inch|in\.|\"|”|″|gb|tb|mb|mah|watts|watt|w|ghz|mhz|hz|"
    r"megapixel|mp|mm|cm|kg|lbs|lb|hours|hour|hrs|hr|ml|volts|volt|v)(?![\w])",
    re.IGNORECASE,
)
# sentence ends: . ! ? then space, except after abbreviations that precede amounts or comparisons
_SENTENCE = re.compile(r"(?<!\bRs\.)(?<!\bvs\.)(?<!\bNo\.)(?<!e\.g\.)(?<!i\.e\.)(?<!approx\.)(?<=[.!?])\s+")
_PART = re.compile(r";|,\s*(?:while|whereas|but)\b|\s(?:vs\.?|versus)\s|,\s", re.IGNORECASE)


class Claim(BaseModel):
    """A checkable statement next to product citations."""

    kind: ClaimKind
    text: str
    values: list[str]
    line: int
    product_ids: list[str]


class ClaimCheck(BaseModel):
    """A claim compared with the catalog: ``agrees``, ``disagrees`` or ``unverifiable`` (the record is silent)."""

    claim: Claim
    verdict: Verdict
    catalog: str | None = None

    def describe(self) -> str:
        ids = ", ".join(f"[P:{pid}]" for pid in self.claim.product_ids)
        said = " / ".join(self.claim.values)
        return f"line {self.claim.line}: {self.claim.kind} '{said}' next to {ids}; the catalog says {self.catalog}"


class Unit(BaseModel):
    text: str
    line: int
    product_ids: list[str]


def claim_units(report: str) -> list[Unit]:
    """Split a report into the units claims attach to (see the module docstring)."""
    units: list[Unit] = []
    for number, line in enumerate(report.splitlines(), 1):
        for sentence in _SENTENCE.split(line):
            ids = list(dict.fromkeys(c.target for c in product_citations(sentence)))
            if not ids:
                continue
            parts = [sentence]
            if len(ids) > 1:
                parts = [p for p in _PART.split(sentence) if p and p.strip()]
            for part in parts:
                part_ids = list(dict.fromkeys(c.target for c in product_citations(part)))
                if part_ids:
                    units.append(Unit(text=part, line=number, product_ids=part_ids))
    return units


def _to_decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _money_amounts(text: str, bare: bool = False) -> list[tuple[Decimal, str | None, str]]:
    """``(amount, currency code, matched text)`` for each amount that reads as a price claim; ``bare``: also
    amounts without a currency after a price cue (for products whose catalog has no currency)."""
    out = []
    for match in _MONEY.finditer(text):
        before = text[max(0, match.start() - 30) : match.start()]
        after = text[match.end() : match.end() + 14]
        if _LIMIT_BEFORE.search(before) or _LIMIT_AFTER.search(after):
            continue
        number = match.group("num") or match.group("num2")
        marker = (match.group("pre") or match.group("post") or "").casefold().strip()
        value = _to_decimal(number)
        if value is not None:
            out.append((value, _CURRENCY_CODES.get(marker), match.group(0)))
    if bare and not out:
        for match in _BARE_PRICE.finditer(text):
            before = text[max(0, match.start("num") - 30) : match.start("num")]
            value = _to_decimal(match.group("num"))
            if value is not None and not _LIMIT_BEFORE.search(before):
                out.append((value, None, match.group("num")))
    return out


def _strip_citations(text: str) -> str:
    return re.sub(r"\[[PW]:[^\]]*\]", " ", text)


def extract_claims(
    report: str, brand_vocabulary: Iterable[str] = (), currencyless_ids: Iterable[str] = ()
) -> list[Claim]:
    """Every claim of ``report`` (see the module docstring); brands are recognised from ``brand_vocabulary``;
    bare amounts are price claims in units citing one of ``currencyless_ids`` (priced, no currency)."""
    bare_ids = set(currencyless_ids)
    brands = sorted({b.strip() for b in brand_vocabulary if b and len(b.strip()) >= 2}, key=len, reverse=True)
    claims: list[Claim] = []
    for unit in claim_units(report):
        text = _strip_citations(unit.text)
        amounts = _money_amounts(text, bare=bool(bare_ids.intersection(unit.product_ids)))
        if amounts:
            claims.append(
                Claim(
                    kind="price",
                    text=unit.text,
                    values=[raw.strip() for _, _, raw in amounts],
                    line=unit.line,
                    product_ids=unit.product_ids,
                )
            )
        for match in _RATING.finditer(text):
            value = match.group("a") or match.group("b")
            claims.append(
                Claim(
                    kind="rating",
                    text=unit.text,
                    values=[value],
                    line=unit.line,
                    product_ids=unit.product_ids,
                )
            )
        for brand in brands:
            pattern = re.compile(r"(?<!\w)" + re.escape(brand) + r"(?!\w)", re.IGNORECASE)
            found = pattern.search(text)
            if found and (found.group(0)[0].isupper() or found.group(0)[0].isdigit()):
                claims.append(
                    Claim(
                        kind="brand",
                        text=unit.text,
                        values=[brand],
                        line=unit.line,
                        product_ids=unit.product_ids,
                    )
                )
        for match in _QUANTITY.finditer(text):
            unit_name = _UNITS[match.group("unit").casefold()]
            claims.append(
                Claim(
                    kind="attribute",
                    text=unit.text,
                    values=[f"{match.group('num')} {unit_name}"],
                    line=unit.line,
                    product_ids=unit.product_ids,
                )
            )
    return claims


def _quantities(text: str) -> dict[str, set[Decimal]]:
    found: dict[str, set[Decimal]] = {}
    for match in _QUANTITY.finditer(text):
        value = _to_decimal(match.group("num"))
        if value is not None:
            found.setdefault(_UNITS[match.group("unit").casefold()], set()).add(value.normalize())
    return found


def _price_matches(amount: Decimal, currency: str | None, product: Product) -> bool:
    if product.price is None:
        return False
    if currency and product.currency and currency != product.currency:
        return False
    price = Decimal(product.price)
    return abs(amount - price) <= max(Decimal("0.01"), PRICE_TOLERANCE * price)


def check_claim(claim: Claim, products: Mapping[str, Product]) -> ClaimCheck:
    """Compare one claim with the records of the products it is next to (unknown ids make it unverifiable)."""
    cited = [products[pid] for pid in claim.product_ids if pid in products]
    if not cited:
        return ClaimCheck(
            claim=claim, verdict="unverifiable", catalog="nothing: the cited ids are not in the catalog"
        )
    if claim.kind == "price":
        priced = [p for p in cited if p.price is not None]
        if not priced:
            return ClaimCheck(claim=claim, verdict="unverifiable", catalog="no price")
        bare = any(p.currency is None for p in priced)
        amounts = _money_amounts(_strip_citations(claim.text), bare=bare)
        ok = any(_price_matches(a, c, p) for a, c, _ in amounts for p in priced)
        catalog = "; ".join(f"{p.product_id} costs {format_money(p.price, p.currency)}" for p in priced)  # type: ignore[arg-type]
        return ClaimCheck(claim=claim, verdict="agrees" if ok else "disagrees", catalog=catalog)
    if claim.kind == "rating":
        rated = [p for p in cited if p.rating is not None]
        if not rated:
            return ClaimCheck(claim=claim, verdict="unverifiable", catalog="no rating")
        stated_rating = float(claim.values[0])
        ok = any(abs(stated_rating - float(p.rating or 0)) <= RATING_TOLERANCE for p in rated)
        catalog = "; ".join(f"{p.product_id} is rated {p.rating}" for p in rated)
        return ClaimCheck(claim=claim, verdict="agrees" if ok else "disagrees", catalog=catalog)
    if claim.kind == "brand":
        brand = claim.values[0]
        key = normalize_key(brand)
        pattern = re.compile(r"(?<!\w)" + re.escape(brand) + r"(?!\w)", re.IGNORECASE)
        ok = any((p.brand and normalize_key(p.brand) == key) or pattern.search(p.title) for p in cited)
        catalog = "; ".join(f"{p.product_id} is by {p.brand or 'an unlisted brand'}" for p in cited)
        return ClaimCheck(claim=claim, verdict="agrees" if ok else "disagrees", catalog=catalog)
    # attribute: number + unit
    number, unit = claim.values[0].split(" ", 1)
    quantity = Decimal(number).normalize()
    stated = [(p, _quantities(product_text(p)).get(unit)) for p in cited]
    with_unit = [(p, values) for p, values in stated if values]
    if not with_unit:
        return ClaimCheck(claim=claim, verdict="unverifiable", catalog=f"nothing in {unit}")
    ok = any(quantity in values for _, values in with_unit)
    catalog = "; ".join(
        f"{p.product_id} lists {', '.join(f'{v:f}' for v in sorted(values))} {unit}"
        for p, values in with_unit
    )
    return ClaimCheck(claim=claim, verdict="agrees" if ok else "disagrees", catalog=catalog)


def check_report(report: str, products: Mapping[str, Product]) -> list[ClaimCheck]:
    """Extract and check every claim of ``report`` against ``products`` (the cited products that exist)."""
    vocabulary = [p.brand for p in products.values() if p.brand]
    currencyless = [pid for pid, p in products.items() if p.price is not None and not p.currency]
    return [check_claim(claim, products) for claim in extract_claims(report, vocabulary, currencyless)]


def grounding_accuracy(checks: Iterable[ClaimCheck]) -> float | None:
    """Agreeing / checkable claims; ``None`` when nothing was checkable."""
    checkable = [c for c in checks if c.verdict != "unverifiable"]
    if not checkable:
        return None
    return sum(c.verdict == "agrees" for c in checkable) / len(checkable)
