"""The normalized product record every catalog source is mapped into.

One schema for all sources keeps search, tools, the supervisor's grounding checks and the metrics independent of
where the data came from. Missing facts stay absent (``None`` or empty) and are never invented: the supervisor
compares an agent's claims against these fields, so a made-up default would turn into a false "grounded" verdict.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

PRODUCT_SCHEMA_VERSION = 1

NonEmptyStr = Annotated[str, Field(min_length=1)]


class Product(BaseModel):
    """A product as the sandbox sees it (DESIGN section 3).

    ``product_id`` is source-qualified (``"<source>:<native id>"``) so that several catalogs merge without
    collisions and every citation names the dataset it came from.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_id: NonEmptyStr
    title: NonEmptyStr
    source: NonEmptyStr
    brand: str | None = None
    category_path: list[str] = Field(default_factory=list)
    price: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = None
    description: str | None = None
    bullet_points: list[str] = Field(default_factory=list)
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    options: list[dict[str, str]] = Field(default_factory=list)
    rating: float | None = Field(default=None, ge=0, le=5, allow_inf_nan=False)
    review_count: int | None = Field(default=None, ge=0)
    popularity: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    shop_id: str | None = None
    services: list[str] = Field(default_factory=list)
    in_stock: bool | None = None
    url: str | None = None
    image_url: str | None = None

    @field_validator("title", "brand", "description", mode="before")
    @classmethod
    def _strip_text(cls, value: object) -> object:
        if isinstance(value, str):
            value = " ".join(value.split())
            return value or None
        return value

    @field_validator("category_path", "bullet_points", "services")
    @classmethod
    def _drop_blank_items(cls, values: list[str]) -> list[str]:
        return [v.strip() for v in values if v and v.strip()]

    @field_validator("currency")
    @classmethod
    def _upper_currency(cls, value: str | None) -> str | None:
        return value.strip().upper() if value else None

    @property
    def category(self) -> str:
        """The category path as one ``"A > B > C"`` string (empty when unknown)."""
        return " > ".join(self.category_path)

    def attribute_text(self) -> str:
        """All attribute names and values as one line, for indexing and snippets."""
        return "; ".join(f"{name}: {', '.join(values)}" for name, values in self.attributes.items())
