"""Product catalogs: the normalized record, search contract, on-disk snapshots and search backends."""

from sandbox.catalog.backend import CatalogBackend
from sandbox.catalog.product import PRODUCT_SCHEMA_VERSION, Product
from sandbox.catalog.search import (
    SearchFilters,
    SearchHit,
    SearchMode,
    SearchRequest,
    SearchResult,
    SortOrder,
)

__all__ = [
    "PRODUCT_SCHEMA_VERSION",
    "CatalogBackend",
    "Product",
    "SearchFilters",
    "SearchHit",
    "SearchMode",
    "SearchRequest",
    "SearchResult",
    "SortOrder",
]
