"""``product_search`` and ``visit_product``: the agent's two windows onto the catalog.

Both are thin, typed wrappers over whatever :class:`~sandbox.catalog.backend.CatalogBackend` the env holds:
``product_search`` turns its arguments into a :class:`~sandbox.catalog.search.SearchRequest`, asks the backend
for one page of ids, fetches those records and trims each to a short hit (id, title, brand, price, currency,
rating, shop, category, snippet); ``visit_product`` returns full records, reporting unknown ids one by one.
Filters are the very :class:`~sandbox.catalog.search.SearchFilters` model every backend implements, so a filter
means the same thing to the agent, the CLI and the benchmarks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from sandbox.catalog.backend import CatalogBackend
from sandbox.catalog.product import Product
from sandbox.catalog.search import SearchFilters, SearchMode, SearchRequest, SortOrder
from sandbox.safety.quoting import defuse
from sandbox.tools.registry import ErrorKind, ToolError, ToolResult

SNIPPET_CHARS = 160
DESCRIPTION_CHARS = 1500
MAX_VISIT_IDS = 20
MAX_PAGE = 50
MAX_QUERY_CHARS = 500


def price_number(value: Decimal | None) -> int | float | None:
    """A price as a JSON number: ``49.99`` stays ``49.99``, ``32999.00`` becomes ``32999``."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def snippet(product: Product, limit: int = SNIPPET_CHARS) -> str:
    """A short teaser for a hit: the start of the description, bullets or attributes, cut at a word boundary."""
    text = product.description or " ".join(product.bullet_points) or product.attribute_text()
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " ..."


def supported_modes(backend: CatalogBackend) -> frozenset[SearchMode]:
    """Search modes ``backend`` can answer: its ``supported_modes`` attribute if it has one, else lexical only."""
    declared = getattr(backend, "supported_modes", None)
    if declared is None:
        return frozenset({SearchMode.lexical})
    return frozenset(SearchMode(m) for m in declared)


class ProductHit(ToolResult):
    """One search hit, short enough that a page of ten stays readable."""

    id: str
    title: str
    brand: str | None = None
    price: int | float | None = None
    currency: str | None = None
    rating: float | None = None
    shop: str | None = None
    category: str | None = None
    snippet: str | None = None


class ProductSearchResult(ToolResult):
    """One page of hits and how many products match in total."""

    query: str
    mode: SearchMode
    sort: SortOrder
    page: int
    page_size: int
    total: int
    hits: list[ProductHit]
    note: str | None = None


class ProductRecord(ToolResult):
    """A full product record as the agent sees it (long descriptions are cut, marked with ``...``)."""

    id: str
    title: str
    source: str
    brand: str | None = None
    category: str | None = None
    price: int | float | None = None
    currency: str | None = None
    rating: float | None = None
    review_count: int | None = None
    popularity: float | None = None
    shop: str | None = None
    services: list[str] | None = None
    in_stock: bool | None = None
    url: str | None = None
    description: str | None = None
    bullet_points: list[str] | None = None
    attributes: dict[str, list[str]] | None = None
    options: list[dict[str, str]] | None = None


class UnknownProduct(ToolResult):
    id: str
    error: str


class VisitProductResult(ToolResult):
    """Records of the known ids, one error per unknown id (the call then counts as an error)."""

    goal: str | None = None
    products: list[ProductRecord]
    not_found: list[UnknownProduct] | None = None
    error: str | None = None

    def partial_error(self) -> tuple[ErrorKind, str] | None:
        if self.not_found:
            return "unknown_product_id", self.error or "unknown product ids"
        return None


def hit_of(product: Product) -> ProductHit:
    # model_construct: every value already comes typed from a validated Product, so skip re-validation
    return ProductHit.model_construct(
        id=product.product_id,
        title=defuse(product.title),
        brand=product.brand,
        price=price_number(product.price),
        currency=product.currency,
        rating=product.rating,
        shop=product.shop_id,
        category=product.category or None,
        snippet=defuse(snippet(product)) or None,
    )


def record_of(product: Product, description_chars: int = DESCRIPTION_CHARS) -> ProductRecord:
    description = product.description
    if description and len(description) > description_chars:
        description = description[:description_chars].rsplit(" ", 1)[0] + " ..."
    # catalog text is data: markers inside it are defused (sandbox.safety.quoting); JSON escaping does the rest
    return ProductRecord(
        id=product.product_id,
        title=defuse(product.title),
        source=product.source,
        brand=product.brand,
        category=product.category or None,
        price=price_number(product.price),
        currency=product.currency,
        rating=product.rating,
        review_count=product.review_count,
        popularity=product.popularity,
        shop=product.shop_id,
        services=product.services or None,
        in_stock=product.in_stock,
        url=product.url,
        description=defuse(description) if description else description,
        bullet_points=[defuse(b) for b in product.bullet_points[:10]] or None,
        attributes=dict(list(product.attributes.items())[:40]) or None,
        options=product.options[:30] or None,
    )


def _unknown_id_message(product_id: str, snapshot_id: str) -> str:
    hint = ""
    if product_id.startswith("[") or product_id.upper().startswith("P:"):
        hint = "; pass the bare id, without the [P:...] citation wrapper"
    elif ":" not in product_id:
        hint = "; ids are source-qualified like 'bestbuy:4984700': copy them from product_search results"
    return f"no product with id {product_id!r} in catalog {snapshot_id}{hint}"


class CatalogTools:
    """The catalog tools bound to one backend (shared read-only by every env of a process)."""

    def __init__(self, backend: CatalogBackend, *, page_size: int = 10) -> None:
        self.backend = backend
        self.page_size = page_size
        self.modes = supported_modes(backend)

    def product_search(
        self,
        query: Annotated[str, Field(max_length=MAX_QUERY_CHARS)],
        filters: SearchFilters | None = None,
        sort: SortOrder = SortOrder.relevance,
        page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1,
        mode: SearchMode = SearchMode.lexical,
    ) -> ProductSearchResult:
        """Search the product catalog; returns one page of hits (id, title, brand, price, rating, shop) and the total.

        Args:
            query: What to look for, in plain words (may be empty to browse by filters alone).
            filters: Hard filters every hit satisfies: price range, brands, category prefix, shop, minimum
                rating, services, stock status, source dataset.
            sort: Result order: relevance, price_asc, price_desc, rating or popularity.
            page: Page number, starting at 1 (10 hits per page).
            mode: Retriever: lexical (BM25), dense (embeddings) or hybrid (both fused), if the catalog has it.
        """
        if mode not in self.modes:
            available = ", ".join(sorted(m.value for m in self.modes))
            raise ToolError(
                f"search mode {mode.value!r} is not available for this catalog (it supports: {available}); "
                f"retry with mode={next(iter(sorted(m.value for m in self.modes)))!r}",
                field="mode",
            )
        request = SearchRequest(
            query=query,
            filters=filters or SearchFilters(),
            sort=sort,
            page=page,
            page_size=self.page_size,
            mode=mode,
        )
        try:
            result = self.backend.search(request)
        except (ValueError, NotImplementedError) as exc:
            raise ToolError(f"the catalog could not answer this search: {exc}") from None
        products = self.backend.get_products([hit.product_id for hit in result.hits])
        hits = [hit_of(p) for p in products if p is not None]
        note = None
        if not hits:
            note = (
                "no products on this page"
                if result.total
                else "no products match; use fewer or more general words, or relax the filters"
            )
        return ProductSearchResult(
            query=query,
            mode=mode,
            sort=sort,
            page=page,
            page_size=self.page_size,
            total=result.total,
            hits=hits,
            note=note,
        )

    def visit_product(
        self,
        product_ids: Annotated[
            list[Annotated[str, Field(max_length=200)]], Field(min_length=1, max_length=MAX_VISIT_IDS)
        ],
        goal: Annotated[str, Field(max_length=MAX_QUERY_CHARS)] | None = None,
    ) -> VisitProductResult:
        """Read the full records of products: description, attributes, options, price, shop, services, stock.

        Args:
            product_ids: Product ids exactly as product_search returned them (at most 20).
            goal: What you want to learn from these products (kept with the trajectory).
        """
        ids = list(dict.fromkeys(product_ids))
        products = self.backend.get_products(ids)
        found = [record_of(p) for p in products if p is not None]
        missing = [pid for pid, p in zip(ids, products, strict=True) if p is None]
        snapshot_id = getattr(self.backend, "snapshot_id", "?")
        not_found = [UnknownProduct(id=pid, error=_unknown_id_message(pid, snapshot_id)) for pid in missing]
        error = None
        if missing:
            error = (
                f"{len(missing)} of {len(ids)} product ids are not in the catalog: {', '.join(missing[:5])}"
            )
        return VisitProductResult(goal=goal, products=found, not_found=not_found or None, error=error)
