"""The catalog in memory for synthesis: products, shops, and the exact count of products satisfying a target.

``n_satisfying`` must equal a brute-force scan with the reference filter (prgym-mode ``r_pro == 1`` of
:func:`sandbox.rewards.shoppingbench.score_item`). A scan over every product per task is too slow, so the pool
first narrows to products that *can* satisfy: the title cosine (the scorer's token cosine, from a token index, with a margin for rounding) must reach the threshold and the price must be inside every range. Both are necessary conditions, so running the
reference filter on the survivors gives the brute-force count exactly.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from sandbox.catalog.backend import CatalogBackend
from sandbox.catalog.product import Product
from sandbox.catalog.search import SearchFilters, SearchRequest
from sandbox.catalog.store import ProductStore
from sandbox.rewards.shoppingbench import TITLE_THRESHOLD, score_item
from sandbox.tasks.models import ShoppingTarget

_TOKEN = re.compile(r"[0-9a-z]+")


def satisfies(product: Product, target: ShoppingTarget, source: str) -> bool:
    """The reference filter: the product meets every sampled constraint (prgym rules, ``r_pro == 1``)."""
    return score_item(product, target, source=source, scoring="prgym").r_pro >= 1.0


def target_of_id(product: Product) -> tuple[str, str]:
    """``(catalog_source, native id)`` of a catalog product: ``bestbuy:12`` -> ``("bestbuy", "12")``."""
    prefix = f"{product.source}:"
    pid = product.product_id
    return product.source, pid[len(prefix) :] if pid.startswith(prefix) else pid


class CatalogPool:
    """Every product of a snapshot, with a title-token index, prices as an array and products by shop."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.products = list(products)
        self.index = {p.product_id: i for i, p in enumerate(self.products)}
        self.prices = np.array(
            [float(p.price) if p.price is not None else np.nan for p in self.products], dtype=np.float64
        )
        postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        norms = np.zeros(len(self.products))
        for i, p in enumerate(self.products):
            counts = Counter(_TOKEN.findall(p.title.casefold()))
            norms[i] = math.sqrt(sum(c * c for c in counts.values()))
            for token, count in counts.items():
                postings[token][0].append(i)
                postings[token][1].append(float(count))
        self.postings = {t: (np.array(i, dtype=np.int64), np.array(c)) for t, (i, c) in postings.items()}
        self.norms = norms
        shops: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(self.products):
            if p.shop_id is not None and p.price is not None:
                shops[p.shop_id].append(i)
        self.shops = {s: v for s, v in sorted(shops.items()) if len(v) >= 2}

    @classmethod
    def from_store(cls, store: ProductStore) -> CatalogPool:
        return cls([p for _, p in store.iter_products()])

    def __len__(self) -> int:
        return len(self.products)

    def title_cosines(self, text: str) -> np.ndarray:
        """The scorer's token cosine between ``text`` and every product title, from the token index."""
        counts = Counter(_TOKEN.findall(text.casefold()))
        dots = np.zeros(len(self.products))
        for token, count in counts.items():
            if token in self.postings:
                where, there = self.postings[token]
                dots[where] += count * there
        norm = math.sqrt(sum(c * c for c in counts.values()))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.norms > 0, dots / (self.norms * max(norm, 1e-12)), 0.0)

    def candidates(self, target: ShoppingTarget, threshold: float = TITLE_THRESHOLD) -> np.ndarray:
        """Indices of products that pass the necessary conditions: every target title at the similarity
        threshold (less a rounding margin; the reference filter decides the borderline ones) and the price in
        every range."""
        keep_title = np.ones(len(self.products), dtype=bool)
        for title in target.titles:
            keep_title &= self.title_cosines(title) >= threshold - 1e-6
        idx = np.flatnonzero(keep_title)
        prices = self.prices[idx]
        keep = np.ones(len(idx), dtype=bool)
        for rng in target.price:
            with np.errstate(invalid="ignore"):
                if rng.mode == "less than":
                    keep &= prices <= float(rng.high)  # type: ignore[arg-type]
                elif rng.mode == "greater than":
                    keep &= prices >= float(rng.low)  # type: ignore[arg-type]
                else:
                    keep &= (prices >= float(rng.low)) & (prices <= float(rng.high))  # type: ignore[arg-type]
        return idx[keep]

    def satisfying(self, target: ShoppingTarget, source: str) -> list[str]:
        """Ids of every catalog product other than the target that satisfies all of the target's constraints."""
        own = f"{source}:{target.product_id}"
        out = []
        for i in self.candidates(target):
            product = self.products[int(i)]
            if product.product_id != own and satisfies(product, target, source):
                out.append(product.product_id)
        return out


def reachable(backend: CatalogBackend, target: ShoppingTarget, ids: set[str], page_size: int = 50) -> bool:
    """Whether ``product_search`` for the target's title (no filters) returns any product in ``ids``."""
    request = SearchRequest(query=target.titles[0], filters=SearchFilters(), page_size=page_size)
    return any(hit.product_id in ids for hit in backend.search(request).hits)
