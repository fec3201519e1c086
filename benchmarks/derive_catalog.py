"""Derived scale-up catalogs: N products made from real ones, for measuring search at sizes we have no data for.

Every derived product is a real product with a seeded variation (a variant word from the real catalog's own
vocabulary appended to the title, price and rating jittered) and lives in source ``derived`` with an id that
names the real product it came from. Nothing here is presented as real data: the benchmark output labels it.

Run as a script to write a derived JSONL file::

    python benchmarks/derive_catalog.py SNAPSHOT_DIR --n 1000000 --out derived.jsonl
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from sandbox.catalog.product import Product
from sandbox.catalog.snapshot import Snapshot

VARIANT_WORDS = [
    "black",
    "white",
    "blue",
    "red",
    "green",
    "grey",
    "silver",
    "small",
    "medium",
    "large",
    "xl",
    "compact",
    "pro",
    "plus",
    "lite",
    "mini",
    "max",
    "2-pack",
    "3-pack",
    "refurbished",
    "wireless",
    "cordless",
    "steel",
    "wood",
    "cotton",
    "leather",
    "outdoor",
    "indoor",
    "kids",
    "men",
    "women",
    "classic",
    "premium",
    "eco",
]


def derived_products(base: list[Product], n: int, seed: int = 0) -> Iterator[Product]:
    """Yield ``n`` products: the real ``base`` products first, then seeded variants of them."""
    rng = random.Random(seed)
    for i in range(n):
        product = base[i % len(base)]
        round_ = i // len(base)
        if round_ == 0:
            yield product
            continue
        words = rng.sample(VARIANT_WORDS, 2)
        price = None
        if product.price is not None:
            price = (product.price * Decimal(str(round(rng.uniform(0.8, 1.25), 2)))).quantize(Decimal("0.01"))
        rating = product.rating
        if rating is not None:
            rating = min(5.0, max(0.0, round(rating + rng.uniform(-0.5, 0.5), 1)))
        yield product.model_copy(
            update={
                "product_id": f"derived:{round_}-{product.product_id}",
                "source": "derived",
                "title": f"{product.title} {words[0]} {words[1]}",
                "price": price,
                "rating": rating,
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshot", type=Path, help="A real catalog snapshot to derive from.")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    base = [p for _, p in Snapshot(args.snapshot).store.iter_products()]
    with args.out.open("w", encoding="utf-8") as out:
        for product in derived_products(base, args.n, args.seed):
            out.write(product.model_dump_json(exclude_defaults=True) + "\n")
    print(f"wrote {args.n:,} products (derived from {len(base):,} real ones) to {args.out}")


if __name__ == "__main__":
    main()
