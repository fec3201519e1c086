"""Typed search requests and results shared by every catalog backend.

The same request model serves the CLI, the agent's ``product_search`` tool and the benchmarks, so a filter means
exactly one thing everywhere and every backend (tantivy, FAISS, Elasticsearch) is tested against one contract.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sandbox.catalog.product import Product

MAX_PAGE_SIZE = 100


class SortOrder(str, Enum):
    """Result orders. Every order breaks ties by ascending product id, so pages are stable."""

    relevance = "relevance"
    price_asc = "price_asc"
    price_desc = "price_desc"
    rating = "rating"
    popularity = "popularity"


class SearchMode(str, Enum):
    """Which retriever answers the query: BM25, embeddings, or a fusion of both."""

    lexical = "lexical"
    dense = "dense"
    hybrid = "hybrid"


def normalize_key(value: str) -> str:
    """Case- and space-insensitive form used for exact-match filters (brand, category, shop, service)."""
    return " ".join(value.casefold().split())


def category_prefixes(category_path: list[str]) -> list[str]:
    """Every root-first prefix of a category path, normalized: ``["a", "a > b", "a > b > c"]``.

    Indexing all prefixes turns "category starts with X" into a single exact-term filter.
    """
    parts = [normalize_key(p) for p in category_path if p.strip()]
    return [" > ".join(parts[: i + 1]) for i in range(len(parts))]


class SearchFilters(BaseModel):
    """Hard filters: a hit always satisfies every filter that is set."""

    model_config = ConfigDict(extra="forbid")

    price_min: float | None = Field(default=None, ge=0, description="Lowest price, inclusive.")
    price_max: float | None = Field(default=None, ge=0, description="Highest price, inclusive.")
    brands: list[str] = Field(default_factory=list, description="Any of these brands (case-insensitive).")
    category: str | None = Field(
        default=None, description='Category path prefix, e.g. "Electronics > Audio" (case-insensitive).'
    )
    shop_id: str | None = Field(default=None, description="Only offers from this shop.")
    min_rating: float | None = Field(default=None, ge=0, le=5, description="Lowest average rating.")
    services: list[str] = Field(default_factory=list, description="Every one of these services (e.g. COD).")
    in_stock: bool | None = Field(
        default=None,
        description="True: only products known to be in stock; False: only those known to be out.",
    )
    source: str | None = Field(default=None, description="Only products from this dataset.")

    @field_validator("brands", "services", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, str):
            return [value]
        return value

    @model_validator(mode="after")
    def _check_price_range(self) -> SearchFilters:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError(f"price_min ({self.price_min}) must not exceed price_max ({self.price_max})")
        return self

    def is_empty(self) -> bool:
        return self == SearchFilters()

    def matches(self, product: Product) -> bool:
        """The reference meaning of every filter, in plain Python.

        Backends implement filters natively (tantivy clauses, numpy masks, Elasticsearch queries); the tests hold
        each of them to this definition. A product with an unknown value never satisfies a filter on that value.
        """
        price = float(product.price) if product.price is not None else None
        if self.price_min is not None and (price is None or price < self.price_min):
            return False
        if self.price_max is not None and (price is None or price > self.price_max):
            return False
        if self.min_rating is not None and (product.rating is None or product.rating < self.min_rating):
            return False
        if self.brands and (
            product.brand is None
            or normalize_key(product.brand) not in {normalize_key(b) for b in self.brands}
        ):
            return False
        if (category := self.category_key()) is not None and category not in category_prefixes(
            product.category_path
        ):
            return False
        if self.shop_id and (
            product.shop_id is None or normalize_key(product.shop_id) != normalize_key(self.shop_id)
        ):
            return False
        if self.services and not {normalize_key(s) for s in self.services} <= {
            normalize_key(s) for s in product.services
        }:
            return False
        if self.in_stock is not None and product.in_stock is not self.in_stock:
            return False
        return not (self.source and normalize_key(product.source) != normalize_key(self.source))

    def category_key(self) -> str | None:
        """The category filter in the normalized form that :func:`category_prefixes` indexes."""
        if not self.category:
            return None
        parts = [p for p in self.category.replace("/", ">").split(">") if p.strip()]
        return " > ".join(normalize_key(p) for p in parts) or None


class SearchRequest(BaseModel):
    """One search: query text (may be empty to browse by filters), filters, order and page."""

    model_config = ConfigDict(extra="forbid")

    query: str = ""
    filters: SearchFilters = Field(default_factory=SearchFilters)
    sort: SortOrder = SortOrder.relevance
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=10, ge=1, le=MAX_PAGE_SIZE)
    mode: SearchMode = SearchMode.lexical

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class SearchHit(BaseModel):
    """A ranked product id with the score that ranked it (BM25, cosine or fused, depending on the mode)."""

    product_id: str
    score: float


class SearchResult(BaseModel):
    """One page of hits and the total number of products that match the query and filters."""

    hits: list[SearchHit]
    total: int
    page: int
    page_size: int
    note: str | None = Field(
        default=None,
        description="Why the result is not what the query seems to ask for (e.g. no searchable words).",
    )
