"""The contract every catalog backend implements (embedded tantivy, FAISS hybrid, Elasticsearch).

Tools and the env only ever talk to this protocol, so swapping the engine never changes what the agent sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from sandbox.catalog.product import Product
from sandbox.catalog.search import SearchRequest, SearchResult


@runtime_checkable
class CatalogBackend(Protocol):
    """Search and fetch products of one catalog snapshot.

    Implementations must be deterministic (the same request gives the same page, ties broken by product id) and
    safe to share read-only between env instances in one process.
    """

    snapshot_id: str

    def search(self, request: SearchRequest) -> SearchResult:
        """Rank the products matching ``request``; hits satisfy every filter."""
        ...

    def get_products(self, product_ids: Sequence[str]) -> list[Product | None]:
        """Full records in the order asked, ``None`` for an id the catalog does not hold."""
        ...

    def __len__(self) -> int:
        """Number of products in the catalog."""
        ...


def products_by_id(backend: CatalogBackend, ids: Iterable[str]) -> dict[str, Product]:
    """The known products among ``ids`` keyed by id (unknown ids are left out), in one ``get_products`` call.

    Tools, rewards and the supervisor all look cited ids up this way; it lives beside the protocol so none of
    them has to import another's package for it.
    """
    unique = list(dict.fromkeys(ids))
    return {pid: p for pid, p in zip(unique, backend.get_products(unique), strict=True) if p is not None}
