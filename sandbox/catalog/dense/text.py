"""The one definition of the text that represents a product to the embedding model.

Everything that embeds a product (index build, cache keys, benchmarks) calls :func:`product_text`, so changing
what is embedded happens here and nowhere else. The text changes only when the product's embedded fields change;
since cache keys hash this text, editing a description (not embedded) re-encodes nothing.

Why these fields: a small sentence encoder reads ~256 word pieces and weighs every token, so the text leads with
what identifies the product (title), then what disambiguates it (brand, the deepest category levels), then a few
short key attributes. Long descriptions would dilute the title and are left to BM25.
"""

from __future__ import annotations

from sandbox.catalog.product import Product
from sandbox.catalog.search import normalize_key

TEXT_FORMAT = "title-brand-category-attributes/1"
MAX_TEXT_CHARS = 512
MAX_ATTRIBUTES = 6
MAX_ATTRIBUTE_CHARS = 60
CATEGORY_LEVELS = 3


def product_text(product: Product, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Title, then brand (unless the title already names it), category leaf levels and key attributes.

    A product with only a title embeds exactly its title.
    """
    parts = [product.title]
    if product.brand and normalize_key(product.brand) not in normalize_key(product.title):
        parts.append(f"Brand: {product.brand}")
    if product.category_path:
        parts.append("Category: " + " > ".join(product.category_path[-CATEGORY_LEVELS:]))
    attributes = []
    for name, values in product.attributes.items():
        value = ", ".join(v for v in values if v)
        if value and len(value) <= MAX_ATTRIBUTE_CHARS:
            attributes.append(f"{name}: {value}")
        if len(attributes) == MAX_ATTRIBUTES:
            break
    if attributes:
        parts.append("; ".join(attributes))
    return _clip(". ".join(parts), max_chars)


def _clip(text: str, max_chars: int) -> str:
    """Cut at a word boundary so the encoder never sees half a word."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > max_chars // 2 else cut
