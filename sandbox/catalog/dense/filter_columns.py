"""Product filter values as numpy columns, so dense search can turn any ``SearchFilters`` into a boolean mask.

FAISS knows vectors, not prices or brands. These columns (built from the products when the dense index is built,
stored beside it) answer "which ordinals satisfy these filters?" in a few milliseconds for a million products,
and the mask then restricts the vector search. Each filter means exactly what ``SearchFilters.matches`` (and the
tantivy backend) say: values are normalized with the same ``normalize_key`` / ``category_prefixes``, and a
product with an unknown value never satisfies a filter on that value.

Layout: single-valued fields (price, rating, popularity, stock, brand, shop, source) are one entry per ordinal;
multi-valued ones (services, every category-path prefix) are inverted lists in CSR form (a sorted vocabulary,
``indptr`` into one array of ordinals), because a filter asks for one value's products, never a product's values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.catalog.product import Product
from sandbox.catalog.search import SearchFilters, category_prefixes, normalize_key

FILTERS_FILE = "filters.npz"
_UNKNOWN_CODE = -1


class _CodeColumn:
    """A single-valued string field as integer codes into a sorted vocabulary (-1 = unknown)."""

    def __init__(self, vocab: np.ndarray, codes: np.ndarray) -> None:
        self.vocab = vocab
        self.codes = codes
        self._index = {str(v): i for i, v in enumerate(vocab.tolist())}

    def code(self, value: str) -> int | None:
        return self._index.get(normalize_key(value))


class _Postings:
    """Inverted lists: for each vocabulary value, the ascending ordinals of products that have it."""

    def __init__(self, vocab: np.ndarray, indptr: np.ndarray, ords: np.ndarray) -> None:
        self.vocab = vocab
        self.indptr = indptr
        self.ords = ords
        self._index = {str(v): i for i, v in enumerate(vocab.tolist())}

    def ords_for(self, key: str) -> np.ndarray:
        i = self._index.get(key)
        if i is None:
            return np.empty(0, dtype=np.int64)
        return self.ords[self.indptr[i] : self.indptr[i + 1]]


class FilterColumnsBuilder:
    """Accumulates products in ordinal order; :meth:`finish` produces the columns."""

    def __init__(self) -> None:
        self._price: list[float] = []
        self._rating: list[float] = []
        self._popularity: list[float] = []
        self._in_stock: list[int] = []
        self._brand: list[str | None] = []
        self._shop: list[str | None] = []
        self._source: list[str] = []
        self._services: defaultdict[str, list[int]] = defaultdict(list)
        self._categories: defaultdict[str, list[int]] = defaultdict(list)

    def add(self, ord_: int, product: Product) -> None:
        if ord_ != len(self._price):
            raise ValueError(
                f"filter columns: products must arrive in ordinal order (got {ord_}, expected {len(self._price)})"
            )
        self._price.append(float(product.price) if product.price is not None else np.nan)
        self._rating.append(product.rating if product.rating is not None else np.nan)
        self._popularity.append(product.popularity if product.popularity is not None else np.nan)
        self._in_stock.append(-1 if product.in_stock is None else int(product.in_stock))
        self._brand.append(normalize_key(product.brand) if product.brand else None)
        self._shop.append(normalize_key(product.shop_id) if product.shop_id else None)
        self._source.append(normalize_key(product.source))
        for service in {normalize_key(s) for s in product.services}:
            self._services[service].append(ord_)
        for prefix in set(category_prefixes(product.category_path)):
            self._categories[prefix].append(ord_)

    def finish(self) -> FilterColumns:
        arrays: dict[str, np.ndarray] = {
            "price": np.asarray(self._price, dtype=np.float64),
            "rating": np.asarray(self._rating, dtype=np.float64),
            "popularity": np.asarray(self._popularity, dtype=np.float64),
            "in_stock": np.asarray(self._in_stock, dtype=np.int8),
        }
        for name, values in (("brand", self._brand), ("shop", self._shop), ("source", self._source)):
            vocab = sorted({v for v in values if v is not None})
            index = {v: i for i, v in enumerate(vocab)}
            arrays[f"{name}_vocab"] = np.asarray(vocab, dtype=str)
            arrays[f"{name}_codes"] = np.fromiter(
                (index[v] if v is not None else _UNKNOWN_CODE for v in values),
                dtype=np.int32,
                count=len(values),
            )
        for name, postings in (("services", self._services), ("category", self._categories)):
            vocab = sorted(postings)
            lengths = np.fromiter((len(postings[v]) for v in vocab), dtype=np.int64, count=len(vocab))
            arrays[f"{name}_vocab"] = np.asarray(vocab, dtype=str)
            arrays[f"{name}_indptr"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            arrays[f"{name}_ords"] = (
                np.concatenate([np.asarray(postings[v], dtype=np.int64) for v in vocab])
                if vocab
                else np.empty(0, dtype=np.int64)
            )
        return FilterColumns(arrays)


class FilterColumns:
    """Filter values of every product by ordinal; :meth:`mask` evaluates a ``SearchFilters``."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.price = arrays["price"]
        self.rating = arrays["rating"]
        self.popularity = arrays["popularity"]
        self.in_stock = arrays["in_stock"]
        self.brand = _CodeColumn(arrays["brand_vocab"], arrays["brand_codes"])
        self.shop = _CodeColumn(arrays["shop_vocab"], arrays["shop_codes"])
        self.source = _CodeColumn(arrays["source_vocab"], arrays["source_codes"])
        self.services = _Postings(
            arrays["services_vocab"], arrays["services_indptr"], arrays["services_ords"]
        )
        self.category = _Postings(
            arrays["category_vocab"], arrays["category_indptr"], arrays["category_ords"]
        )

    @classmethod
    def from_products(cls, products: Iterable[tuple[int, Product]]) -> FilterColumns:
        builder = FilterColumnsBuilder()
        for ord_, product in products:
            builder.add(ord_, product)
        return builder.finish()

    def __len__(self) -> int:
        return int(self.price.shape[0])

    def save(self, directory: Path) -> Path:
        path = directory / FILTERS_FILE
        tmp = directory / (FILTERS_FILE + ".tmp")
        with tmp.open("wb") as handle:
            columns: dict[str, Any] = dict(self.arrays)  # numpy's stub types ** as its bool keywords
            np.savez(handle, **columns)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, directory: Path) -> FilterColumns:
        path = directory / FILTERS_FILE
        with np.load(path, allow_pickle=False) as data:
            return cls({name: data[name] for name in data.files})

    def mask(self, filters: SearchFilters) -> np.ndarray | None:
        """Boolean mask of the ordinals that satisfy every filter; ``None`` when no filter is set (all match)."""
        n = len(self)
        mask: np.ndarray | None = None

        def narrow(condition: np.ndarray) -> None:
            nonlocal mask
            mask = condition if mask is None else (mask & condition)

        def from_ords(ords: np.ndarray) -> np.ndarray:
            out = np.zeros(n, dtype=bool)
            out[ords] = True
            return out

        with np.errstate(invalid="ignore"):  # NaN (unknown) compares False: unknown never satisfies a bound
            if filters.price_min is not None:
                narrow(self.price >= filters.price_min)
            if filters.price_max is not None:
                narrow(self.price <= filters.price_max)
            if filters.min_rating is not None:
                narrow(self.rating >= filters.min_rating)
        if filters.brands:
            codes = [c for c in (self.brand.code(b) for b in filters.brands) if c is not None]
            narrow(np.isin(self.brand.codes, np.asarray(codes, dtype=np.int32)))
        if (category := filters.category_key()) is not None:
            narrow(from_ords(self.category.ords_for(category)))
        if filters.shop_id:
            narrow(self._equals(self.shop, filters.shop_id))
        for service in filters.services:
            narrow(from_ords(self.services.ords_for(normalize_key(service))))
        if filters.in_stock is not None:
            narrow(self.in_stock == int(filters.in_stock))
        if filters.source:
            narrow(self._equals(self.source, filters.source))
        return mask

    @staticmethod
    def _equals(column: _CodeColumn, value: str) -> np.ndarray:
        code = column.code(value)
        if code is None:
            return np.zeros(len(column.codes), dtype=bool)
        return column.codes == code

    def sort_key(self, name: str) -> np.ndarray:
        """A numeric column for sorting (price, rating, popularity); NaN where unknown."""
        return {"price": self.price, "rating": self.rating, "popularity": self.popularity}[name]
