"""Task models: research tasks (ProductResearch style) and shopping tasks (ShoppingBench style).

A task is what one episode is about. Research tasks carry a query, a persona, *hard constraints* that every
recommended product must meet (checked against catalog records by the supervisor and the metrics) and a rubric
over four weighted dimensions. Shopping tasks carry the ShoppingBench target items with their sampled
constraints (price range, options, attributes, services), an optional voucher and budget and whether all items
must come from one shop. Both are plain pydantic models, so task sets are JSONL files of ``model_dump_json()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from sandbox.catalog.product import Product
from sandbox.catalog.search import SearchFilters, category_prefixes, normalize_key

Split = Literal["train", "eval", "test"]
SPLITS: tuple[Split, ...] = ("train", "eval", "test")

RUBRIC_DIMENSIONS = ("comprehensiveness", "depth", "instruction_following", "readability")

CURRENCY_SYMBOLS = {"USD": "$", "INR": "₹", "PHP": "PHP ", "EUR": "€", "GBP": "£"}


def format_money(amount: Decimal | float | int, currency: str | None) -> str:
    """``$300``, ``₹32,999``, ``PHP 256.50``: how constraints and critiques write an amount."""
    value = Decimal(str(amount))
    text = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    if currency is None:
        return text
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def _term_pattern(term: str) -> re.Pattern[str]:
    """Case-insensitive match of ``term`` as whole words where it starts/ends with a word character."""
    escaped = re.escape(term.strip().casefold())
    left = r"(?<!\w)" if term[:1].isalnum() else ""
    right = r"(?!\w)" if term[-1:].isalnum() else ""
    return re.compile(left + escaped + right)


def mentions(text: str, term: str) -> bool:
    """Whether ``text`` mentions ``term`` (case-insensitive, whole words)."""
    return bool(term.strip()) and _term_pattern(term).search(text.casefold()) is not None


def product_text(product: Product) -> str:
    """Everything a must-have term may be found in: title, brand, attributes, options, bullets, description."""
    parts = [product.title, product.brand or "", product.category, product.attribute_text()]
    parts.extend(" ".join(f"{k}: {v}" for k, v in option.items()) for option in product.options)
    parts.extend(product.bullet_points)
    parts.append(product.description or "")
    return "\n".join(parts)


class ConstraintViolation(BaseModel):
    """One hard constraint a product fails, said so that a critique can quote it."""

    constraint: str
    message: str


class HardConstraints(BaseModel):
    """Requirements every recommended product must meet. Unset fields constrain nothing.

    Budgets compare prices in ``currency``; a product priced in another currency violates the budget (the
    catalog mixes USD, INR, PHP and unpriced offers, and a number without its currency proves nothing).
    """

    model_config = ConfigDict(extra="forbid")

    budget_max: Decimal | None = Field(default=None, ge=0, description="Highest acceptable price.")
    budget_min: Decimal | None = Field(default=None, ge=0, description="Lowest acceptable price.")
    currency: str | None = Field(default=None, description="Currency of the budget (ISO code).")
    category: str | None = Field(default=None, description='Category path prefix, e.g. "Audio > Headphones".')
    brands: list[str] = Field(default_factory=list, description="Any of these brands.")
    must_have: list[str] = Field(default_factory=list, description="Terms the product record must contain.")
    min_rating: float | None = Field(default=None, ge=0, le=5)
    in_stock: bool | None = None
    services: list[str] = Field(default_factory=list, description="Services the offer must include.")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.strip().upper() or None if value else None

    @model_validator(mode="after")
    def _check_budget(self) -> HardConstraints:
        if self.budget_min is not None and self.budget_max is not None and self.budget_min > self.budget_max:
            raise ValueError(f"budget_min ({self.budget_min}) must not exceed budget_max ({self.budget_max})")
        return self

    def is_empty(self) -> bool:
        return self == HardConstraints()

    @property
    def category_key(self) -> str | None:
        return _category_key(self.category) if self.category else None

    @property
    def category_leaf(self) -> str | None:
        return category_leaf(self.category)

    # -- checking products -------------------------------------------------------------------------------------

    def check(self, product: Product) -> list[ConstraintViolation]:
        """Every constraint ``product`` fails (empty when it meets them all)."""
        return list(self._violations(product))

    def satisfied_by(self, product: Product) -> bool:
        """Whether ``product`` meets every constraint (stops at the first violation)."""
        return next(self._violations(product), None) is None

    def _violations(self, product: Product) -> Iterator[ConstraintViolation]:
        pid = product.product_id
        if self.budget_max is not None or self.budget_min is not None:
            if product.price is None:
                yield (ConstraintViolation(constraint="budget", message=f"{pid} has no price in the catalog"))
            elif self.currency and product.currency and product.currency != self.currency:
                yield (
                    ConstraintViolation(
                        constraint="budget",
                        message=f"{pid} is priced in {product.currency}, the budget is in {self.currency}",
                    )
                )
            else:
                if self.budget_max is not None and product.price > self.budget_max:
                    price = format_money(product.price, product.currency or self.currency)
                    limit = format_money(self.budget_max, self.currency)
                    yield (
                        ConstraintViolation(
                            constraint="budget", message=f"{pid} costs {price}, over the budget of {limit}"
                        )
                    )
                if self.budget_min is not None and product.price < self.budget_min:
                    price = format_money(product.price, product.currency or self.currency)
                    limit = format_money(self.budget_min, self.currency)
                    yield (
                        ConstraintViolation(
                            constraint="budget", message=f"{pid} costs {price}, under the minimum of {limit}"
                        )
                    )
        if (key := self.category_key) is not None and key not in category_prefixes(product.category_path):
            shown = product.category or "no category"
            yield (
                ConstraintViolation(
                    constraint="category", message=f"{pid} is in '{shown}', not in '{self.category}'"
                )
            )
        if self.brands:
            wanted = {normalize_key(b) for b in self.brands}
            if not product.brand or normalize_key(product.brand) not in wanted:
                yield (
                    ConstraintViolation(
                        constraint="brand",
                        message=f"{pid} is by {product.brand or 'an unknown brand'}, not {' / '.join(self.brands)}",
                    )
                )
        if self.must_have:
            text = product_text(product)
            for term in self.must_have:
                if not mentions(text, term):
                    yield (
                        ConstraintViolation(
                            constraint=f"must_have:{term}",
                            message=f"{pid}'s record does not mention '{term}'",
                        )
                    )
        if self.min_rating is not None and (product.rating is None or product.rating < self.min_rating):
            rating = "no rating" if product.rating is None else f"a rating of {product.rating}"
            yield (
                ConstraintViolation(
                    constraint="rating", message=f"{pid} has {rating}, below the minimum of {self.min_rating}"
                )
            )
        if self.in_stock and product.in_stock is not True:
            state = "out of stock" if product.in_stock is False else "of unknown stock status"
            yield (ConstraintViolation(constraint="in_stock", message=f"{pid} is {state}"))
        if self.services:
            offered = {normalize_key(s) for s in product.services}
            for service in self.services:
                if normalize_key(service) not in offered:
                    yield (
                        ConstraintViolation(
                            constraint=f"service:{service}", message=f"{pid} does not offer '{service}'"
                        )
                    )

    # -- describing and recognising the constraints in text ----------------------------------------------------

    def describe(self) -> list[tuple[str, str]]:
        """``(constraint name, requirement in words)`` for each set constraint, in a fixed order."""
        out: list[tuple[str, str]] = []
        if self.budget_max is not None and self.budget_min is not None:
            lo, hi = (
                format_money(self.budget_min, self.currency),
                format_money(self.budget_max, self.currency),
            )
            out.append(("budget", f"price between {lo} and {hi}"))
        elif self.budget_max is not None:
            out.append(("budget", f"price at most {format_money(self.budget_max, self.currency)}"))
        elif self.budget_min is not None:
            out.append(("budget", f"price at least {format_money(self.budget_min, self.currency)}"))
        if self.category:
            out.append(("category", f"in the category '{self.category}'"))
        if self.brands:
            out.append(("brand", f"brand: {' or '.join(self.brands)}"))
        for term in self.must_have:
            out.append((f"must_have:{term}", f"must have: {term}"))
        if self.min_rating is not None:
            out.append(("rating", f"rated at least {self.min_rating} stars"))
        if self.in_stock:
            out.append(("in_stock", "in stock"))
        for service in self.services:
            out.append((f"service:{service}", f"offers the service '{service}'"))
        return out

    def coverage_terms(self) -> dict[str, list[str]]:
        """For each constraint, words whose mention shows a text (plan, report) takes the constraint into account."""
        terms: dict[str, list[str]] = {}
        for name, _ in self.describe():
            if name == "budget":
                amounts = [a for a in (self.budget_max, self.budget_min) if a is not None]
                words = ["budget"]
                for amount in amounts:
                    value = Decimal(amount)
                    words += [f"{value:,.0f}", f"{value:.0f}"] if value == value.to_integral_value() else []
                    words += [f"{value:,.2f}", f"{value:.2f}"]
                terms[name] = list(dict.fromkeys(words))
            elif name == "category":
                leaf = self.category_leaf or ""
                words = [leaf]
                words += [w.rstrip("s") for w in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", leaf)]
                terms[name] = [w for w in dict.fromkeys(words) if w]
            elif name == "brand":
                terms[name] = list(self.brands)
            elif name.startswith("must_have:"):
                terms[name] = [name.split(":", 1)[1]]
            elif name == "rating":
                terms[name] = ["rating", "rated", "stars", str(self.min_rating)]
            elif name == "in_stock":
                terms[name] = ["in stock", "stock", "available", "availability"]
            elif name.startswith("service:"):
                terms[name] = [name.split(":", 1)[1]]
        return terms

    def uncovered(self, text: str) -> list[tuple[str, str]]:
        """The constraints ``text`` never mentions, as ``(name, requirement in words)``."""
        terms = self.coverage_terms()
        folded = text.casefold()
        missing = []
        for name, words in self.describe():
            options = terms.get(name, [])
            if not any(_loose_mention(folded, option) for option in options):
                missing.append((name, words))
        return missing

    def to_filters(self) -> SearchFilters:
        """``product_search`` filters that enforce what a filter can (budget, category, brand, rating, ...)."""
        return SearchFilters(
            price_min=float(self.budget_min) if self.budget_min is not None else None,
            price_max=float(self.budget_max) if self.budget_max is not None else None,
            brands=list(self.brands),
            category=self.category,
            min_rating=self.min_rating,
            in_stock=True if self.in_stock else None,
            services=list(self.services),
        )


@lru_cache(maxsize=1024)
def category_leaf(category: str | None) -> str | None:
    """The last step of a category path (``Home > Kitchen / Kettles`` -> ``Kettles``); ``None`` without one."""
    if not category:
        return None
    parts = [p.strip() for p in category.replace("/", ">").split(">") if p.strip()]
    return parts[-1] if parts else None


def _category_key(category: str) -> str | None:
    return SearchFilters(category=category).category_key()


def _loose_mention(folded_text: str, term: str) -> bool:
    """Prefix-tolerant mention: ``headphone`` matches ``headphones``; numbers must match whole."""
    term = term.strip().casefold()
    if not term:
        return False
    escaped = re.escape(term)
    left = r"(?<![\w.,])" if term[:1].isalnum() else ""
    right = r"(?![\d])" if term[-1:].isdigit() else ""
    return re.search(left + escaped + right, folded_text) is not None


class Persona(BaseModel):
    """Who is asking: a short description and their soft preferences."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1)
    preferences: list[str] = Field(default_factory=list)


class RubricCriterion(BaseModel):
    """One thing a good report does. ``keywords`` let the rule-based supervisor spot it (any one suffices)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)
    keywords: list[str] = Field(default_factory=list)


class RubricDimension(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    weight: float = Field(ge=0, le=1)
    criteria: list[RubricCriterion] = Field(min_length=1)


class Rubric(BaseModel):
    """Weighted dimensions (RACE style: comprehensiveness, depth, instruction-following, readability)."""

    model_config = ConfigDict(extra="forbid")

    dimensions: list[RubricDimension] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Rubric:
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names):
            raise ValueError(f"rubric dimension names must be unique, got {names}")
        total = sum(d.weight for d in self.dimensions)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"rubric dimension weights must sum to 1, they sum to {total:.6f}")
        return self

    def weights(self) -> dict[str, float]:
        return {d.name: d.weight for d in self.dimensions}


class ResearchTask(BaseModel):
    """A product research request: write a report comparing products that meet the hard constraints."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["research"] = "research"
    task_id: str = Field(min_length=1)
    query: str = Field(min_length=1)
    persona: Persona | None = None
    constraints: HardConstraints = Field(default_factory=HardConstraints)
    rubric: Rubric
    min_products: int = Field(
        default=3, ge=1, le=50, description="Distinct valid products the report must cite."
    )
    split: Split | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    def requirements(self) -> list[str]:
        """The requirement lines shown to the agent under the query."""
        lines = [text for _, text in self.constraints.describe()]
        lines.append(f"compare at least {self.min_products} distinct products from the catalog")
        return lines


# -- ShoppingBench -------------------------------------------------------------------------------------------------

PriceMode = Literal["greater than", "less than", "between"]


class PriceRange(BaseModel):
    """A sampled price constraint: ``greater than`` lo, ``less than`` hi, or ``between`` lo and hi (inclusive)."""

    model_config = ConfigDict(extra="forbid")

    mode: PriceMode
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _check(self) -> PriceRange:
        if self.mode in ("greater than", "between") and self.low is None:
            raise ValueError(f"price range {self.mode!r} needs a lower bound")
        if self.mode in ("less than", "between") and self.high is None:
            raise ValueError(f"price range {self.mode!r} needs an upper bound")
        return self

    @classmethod
    def from_shoppingbench(cls, raw: Any) -> PriceRange:
        """Parse ``{"between": [75, 95]}`` / ``{"greater than": [375, null]}`` / ``{"less than": [null, 99]}``."""
        if not isinstance(raw, dict) or len(raw) != 1:
            raise ValueError(f"a price constraint is one {{mode: [low, high]}} object, got {raw!r}")
        ((mode, bounds),) = raw.items()
        if mode not in ("greater than", "less than", "between"):
            raise ValueError(
                f"unknown price mode {mode!r}; expected 'greater than', 'less than' or 'between'"
            )
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise ValueError(f"price bounds must be [low, high], got {bounds!r}")
        return cls(mode=mode, low=bounds[0], high=bounds[1])

    def contains(self, price: float | Decimal | None) -> bool:
        """The ShoppingBench rule: ``less than`` means ``price <= high``, ``greater than`` ``price >= low``."""
        if price is None:
            return False
        value = float(price)
        if self.mode == "less than":
            return value <= float(self.high)  # type: ignore[arg-type]
        if self.mode == "greater than":
            return value >= float(self.low)  # type: ignore[arg-type]
        return float(self.low) <= value <= float(self.high)  # type: ignore[arg-type]

    def describe(self, currency: str | None = None) -> str:
        if self.mode == "less than":
            return f"price at most {format_money(self.high, currency)}"  # type: ignore[arg-type]
        if self.mode == "greater than":
            return f"price at least {format_money(self.low, currency)}"  # type: ignore[arg-type]
        return f"price between {format_money(self.low, currency)} and {format_money(self.high, currency)}"  # type: ignore[arg-type]


class ShoppingTarget(BaseModel):
    """One item a shopping task asks for: the target product and the constraints sampled from it."""

    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, description="Native ShoppingBench id of the target product.")
    titles: list[str] = Field(min_length=1)
    sku_options: list[dict[str, str]] = Field(default_factory=list)
    attributes: list[dict[str, list[str]]] = Field(default_factory=list)
    price: list[PriceRange] = Field(default_factory=list)
    service: list[str] = Field(default_factory=list)
    record: dict[str, Any] | None = Field(default=None, description="Full target record (web tasks only).")

    def catalog_id(self, source: str = "shoppingbench") -> str:
        return f"{source}:{self.product_id}"

    @property
    def sampled_pairs(self) -> list[tuple[str, str]]:
        """Every sampled ``(name, value)`` of options and attributes, as ShoppingBench counts them."""
        pairs = [(k, v) for option in self.sku_options for k, v in option.items()]
        pairs += [(k, v) for attr in self.attributes for k, values in attr.items() for v in values]
        return pairs


class Voucher(BaseModel):
    """A ShoppingBench voucher: a fixed or capped-percentage discount above a threshold, and the budget."""

    model_config = ConfigDict(extra="forbid")

    voucher_type: Literal["platform", "shop"]
    threshold: float = Field(ge=0)
    discount_type: Literal["fixed", "percentage"]
    face_value: float | None = Field(default=None, ge=0)
    discount: float | None = Field(default=None, ge=0, le=1)
    cap: float | None = Field(default=None, ge=0)
    price_after_voucher: float | None = None
    budget: float = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> Voucher:
        if self.discount_type == "fixed" and self.face_value is None:
            raise ValueError("a fixed voucher needs face_value")
        if self.discount_type == "percentage" and (self.discount is None or self.cap is None):
            raise ValueError("a percentage voucher needs discount and cap")
        return self


ShoppingTaskType = Literal["product", "shop", "voucher", "web"]

Scoring = Literal["shoppingbench", "prgym"]
"""``shoppingbench``: the published evaluation code exactly, quirks included; ``prgym``: the lenient rules
(case-insensitive names, missing fields score as misses, ...). See sandbox/rewards/shoppingbench.py."""


class ShoppingTask(BaseModel):
    """A ShoppingBench task: recommend one product per item; success is checked against the target items."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["shopping"] = "shopping"
    task_id: str = Field(min_length=1)
    query: str = Field(min_length=1)
    task_type: ShoppingTaskType
    items: list[ShoppingTarget] = Field(min_length=1)
    voucher: Voucher | None = None
    same_shop: bool = False
    knowledge_attribute: str | None = None
    currency: str | None = "PHP"
    catalog_source: str = Field(
        default="shoppingbench", description="Source prefix of target ids in the catalog."
    )
    scoring: Scoring = Field(
        default="prgym",
        description="Rule set that scores the task; ShoppingBench's own files load with 'shoppingbench'.",
    )
    split: Split | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    def requirements(self) -> list[str]:
        """Requirement lines shown to the agent (what the query states, in a checkable list)."""
        n = len(self.items)
        lines = [f"recommend exactly {n} product{'s' if n > 1 else ''} with recommend_products"]
        if n > 1:
            lines.append("list the products in the order the request names the items")
        if self.same_shop:
            lines.append("all products must come from the same shop")
        if self.voucher is not None:
            lines.append(f"total budget {format_money(self.voucher.budget, self.currency)} after the voucher")
        return lines


Task = Annotated[ResearchTask | ShoppingTask, Field(discriminator="kind")]
TASK_ADAPTER: TypeAdapter[ResearchTask | ShoppingTask] = TypeAdapter(Task)


def parse_task(value: Any) -> ResearchTask | ShoppingTask:
    """A task from a dict, JSON text or a task model (``kind`` picks the model)."""
    if isinstance(value, (ResearchTask, ShoppingTask)):
        return value
    if isinstance(value, (str, bytes)):
        return TASK_ADAPTER.validate_json(value)
    return TASK_ADAPTER.validate_python(value)
