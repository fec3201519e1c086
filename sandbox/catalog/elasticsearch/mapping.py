"""The Elasticsearch index for one catalog snapshot: its name, settings, mapping and documents (pure functions).

Each field mirrors what the embedded backends index, so a filter or a sort means the same thing on both:

- filter fields are ``keyword`` values already normalized by prgym (``normalize_key``), so an exact ``term``
  matches exactly what ``SearchFilters.matches`` compares; the category is the whole normalized path, filtered
  as "equal, or starts with the path plus ``' > '``", i.e. a prefix by whole levels;
- ``price``, ``rating`` and ``popularity`` are ``double``: the same IEEE doubles that ``float(product.price)``
  gives in Python, so range bounds agree to the last bit (``scaled_float`` would round prices to cents);
- text fields hold the very strings the tantivy index holds (``lexical.text_fields``), analyzed like tantivy's
  ``prgym_en`` (split on non-alphanumerics, drop tokens of 40+ chars, lowercase, ASCII-fold, Porter2 English
  stemmer) and queried with the same ``FIELD_BOOSTS``;
- ``embedding`` is a ``dense_vector`` (cosine) with the snapshot's own vectors, when it has a dense index;
- ``ord`` (the product's ordinal = its rank in product-id order) lets fusion share the embedded backend's code;
- ``record`` keeps the full product (not indexed) so ``get_products`` needs no local snapshot.

An index is named after its snapshot id (``<alias>-<snapshot id>``) and an alias points at the current one.
``_meta`` records the snapshot id, product count, dense model and whether the push completed.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.catalog.lexical import FIELD_BOOSTS, text_fields
from sandbox.catalog.product import Product
from sandbox.catalog.search import category_prefixes, normalize_key

DEFAULT_ALIAS = "prgym-catalog"
MAPPING_VERSION = 1
ANALYZER = "prgym_en"
VECTOR_FIELD = "embedding"


def index_name(alias: str, snapshot_id: str) -> str:
    """The concrete index of ``snapshot_id`` under ``alias`` (Elasticsearch index names are lowercase)."""
    return f"{alias}-{snapshot_id}".lower()


def index_settings(*, shards: int = 1, replicas: int = 0) -> dict[str, Any]:
    """Index settings with the analyzer that mirrors tantivy's ``prgym_en``.

    One shard by default: BM25 statistics are then exact for the whole catalog (with several shards they are
    per shard unless ``dfs_query_then_fetch`` is used) and a single shard holds tens of millions of products.
    """
    return {
        "number_of_shards": shards,
        "number_of_replicas": replicas,
        "analysis": {
            "tokenizer": {"prgym_alnum": {"type": "pattern", "pattern": "[^\\p{L}\\p{N}]+"}},
            "filter": {
                "prgym_max_len": {"type": "length", "max": 39},
                "prgym_porter2": {"type": "stemmer", "language": "porter2"},
            },
            "analyzer": {
                ANALYZER: {
                    "type": "custom",
                    "tokenizer": "prgym_alnum",
                    "filter": ["prgym_max_len", "lowercase", "asciifolding", "prgym_porter2"],
                }
            },
        },
    }


def index_mapping(*, dimension: int | None, meta: dict[str, Any]) -> dict[str, Any]:
    """The explicit mapping (``dynamic: strict``: a document with an unexpected field is an error, not a guess)."""
    keyword = {"type": "keyword"}
    properties: dict[str, Any] = {
        "product_id": keyword,
        "ord": {"type": "integer"},
        **{name: {"type": "text", "analyzer": ANALYZER} for name in FIELD_BOOSTS},
        "brand_key": keyword,
        "category_key": keyword,
        "shop_key": keyword,
        "service_key": keyword,
        "source_key": keyword,
        "in_stock": {"type": "boolean"},
        "price": {"type": "double"},
        "rating": {"type": "double"},
        "popularity": {"type": "double"},
        "record": {"type": "object", "enabled": False},
    }
    if dimension is not None:
        properties[VECTOR_FIELD] = {
            "type": "dense_vector",
            "dims": dimension,
            "index": True,
            "similarity": "cosine",
            # Full-precision HNSW: newer servers default to quantized vectors (int8 / BBQ), whose scores are
            # approximations of the cosine; fusion needs the same cosines the embedded backend computes.
            "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100},
        }
    return {
        "dynamic": "strict",
        "_meta": {"mapping_version": MAPPING_VERSION, **meta},
        "properties": properties,
    }


def document(ord_: int, product: Product, vector: list[float] | None = None) -> dict[str, Any]:
    """The Elasticsearch source of one product (unknown values are left out, exactly as in the other indexes)."""
    doc: dict[str, Any] = {"product_id": product.product_id, "ord": ord_, **text_fields(product)}
    if product.brand:
        doc["brand_key"] = normalize_key(product.brand)
    prefixes = category_prefixes(product.category_path)
    if prefixes:
        doc["category_key"] = prefixes[-1]
    if product.shop_id:
        doc["shop_key"] = normalize_key(product.shop_id)
    if product.services:
        doc["service_key"] = sorted({normalize_key(s) for s in product.services})
    doc["source_key"] = normalize_key(product.source)
    if product.in_stock is not None:
        doc["in_stock"] = product.in_stock
    if product.price is not None:
        doc["price"] = float(product.price)
    if product.rating is not None:
        doc["rating"] = product.rating
    if product.popularity is not None:
        doc["popularity"] = product.popularity
    doc["record"] = json.loads(product.model_dump_json(exclude_defaults=True))
    if vector is not None:
        doc[VECTOR_FIELD] = vector
    return doc
