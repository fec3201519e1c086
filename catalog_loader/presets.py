"""Ready-made source specs for the catalogs in ``../shared/data`` and the full public releases users bring.

Every preset is an ordinary :class:`SourceSpec` (no special code path), so each one doubles as an example of
writing a spec; ``docs/catalog_sources.md`` documents the field layout each expects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalog_loader.spec import SourceSpec
from sandbox.errors import UserError

SHARED_PRESETS: tuple[str, ...] = (
    "icecat",
    "amazon_in",
    "myntra",
    "bestbuy",
    "webmall",
    "homedepot",
    "shoppingbench",
)
RELEASE_PRESETS: tuple[str, ...] = (
    "esci",
    "wands",
    "amazon_reviews_2023",
    "webshop",
    "shoppingbench_documents",
)

# A ShoppingBench product record (the web tasks' ``reward`` and the ``product`` of documents.jsonl.gz).
_SHOPPINGBENCH_FIELDS: dict[str, Any] = {
    "id": "product_id",
    "title": "title",
    "brand": "brand",
    "category_path": {"source": "category", "parser": "path"},
    "description": "description",
    "bullet_points": {"source": "short_description", "parser": "list", "separator": ";"},
    "price": "price",
    "popularity": {"source": "sold_count", "parser": "float"},
    "options": "sku_options",
    "services": "service",
    "shop_id": "shop_id",
    "url": "product_url",
    "image_url": "main_image_url",
}
_SHOPPINGBENCH_ATTRIBUTES: list[dict[str, Any]] = [
    {"source": "attributes", "parser": "attributes"},
    {"source": "specification", "parser": "kv", "separator": ";", "kv_separator": ":"},
]


def _icecat(data_dir: Path) -> list[SourceSpec]:
    return [
        SourceSpec.model_validate(
            {
                "name": "icecat",
                "format": "json",
                "paths": [str(data_dir / "icecat" / "icecat-*.json.zip")],
                "description": "Open Icecat electronics (Chorus demo); price in integer cents, currency not stated",
                "fields": {
                    "id": "id",
                    "title": "title",
                    "brand": "supplier",
                    "price": {"source": "price", "parser": "cents"},
                    "description": "short_description",
                    "image_url": ["img_500x500", "img_high", "img_low", "img_thumb"],
                },
                "attributes": [
                    {"prefix": ["attr_t_", "attr_n_", "attr_b_"]},
                    {"name": "model", "source": "name"},
                    {"name": "ean", "source": "ean", "parser": "list"},
                    {"name": "release_date", "source": "date_released", "pattern": r"^(\d{4}-\d{2}-\d{2})"},
                ],
            }
        )
    ]


def _amazon_in(data_dir: Path) -> list[SourceSpec]:
    return [
        SourceSpec.model_validate(
            {
                "name": "amazon_in",
                "format": "csv",
                "paths": [str(data_dir / "amazon_in" / "Amazon-Products.csv")],
                "currency": "INR",
                "description": "Amazon.in listings; the ASIN in the link is the id",
                "fields": {
                    "id": {"source": "link", "pattern": r"/dp/([A-Z0-9]{10})"},
                    "title": "name",
                    "category_path": {"source": ["main_category", "sub_category"], "combine": "all"},
                    "price": {"source": ["discount_price", "actual_price"], "parser": "price"},
                    "rating": {"source": "ratings", "on_error": "missing"},
                    "review_count": {"source": "no_of_ratings", "on_error": "missing"},
                    "url": "link",
                    "image_url": "image",
                },
                "attributes": [
                    {"name": "list_price", "source": "actual_price", "parser": "price", "on_error": "missing"}
                ],
            }
        )
    ]


def _myntra(data_dir: Path) -> list[SourceSpec]:
    folder = data_dir / "myntra"
    return [
        SourceSpec.model_validate(
            {
                "name": "myntra",
                "format": "csv",
                "paths": [str(folder / "styles.csv")],
                "companion": {"path": str(folder / "styles_text.csv")},
                "description": "Myntra fashion; styles.csv matched row by row with styles_text.csv; no prices",
                "fields": {
                    "id": "id",
                    "title": "productDisplayName",
                    "category_path": {
                        "source": ["gender", "masterCategory", "subCategory", "articleType"],
                        "combine": "all",
                    },
                },
                "attributes": [
                    {"name": "colour", "source": "baseColour"},
                    {"name": "season", "source": "season"},
                    {"name": "year", "source": "year", "parser": "int"},
                    {"name": "usage", "source": "usage"},
                ],
            }
        )
    ]


def _bestbuy(data_dir: Path) -> list[SourceSpec]:
    return [
        SourceSpec.model_validate(
            {
                "name": "bestbuy",
                "format": "json",
                "paths": [str(data_dir / "bestbuy" / "products.json")],
                "currency": "USD",
                "description": "Best Buy products; the SKU in the image file name is the id",
                "fields": {
                    "id": {"source": "image", "pattern": r"/(\d+)(?:_\w+)?\.(?:jpe?g|png|gif|webp)$"},
                    "title": "name",
                    "brand": "brand",
                    "description": "description",
                    "category_path": {"source": "categories", "parser": "path"},
                    "price": "price",
                    "popularity": "popularity",
                    "image_url": "image",
                },
            }
        )
    ]


def _webmall(data_dir: Path) -> list[SourceSpec]:
    return [
        SourceSpec.model_validate(
            {
                "name": "webmall",
                "format": "csv",
                "paths": [str(data_dir / "webmall" / "webmall_*.csv")],
                "description": "four WooCommerce shops (WebMall); one product per offer, id = <shop>-<ID>",
                "fields": {
                    "id": {"template": "{Meta: shop_id}-{ID}"},
                    "title": "Name",
                    "description": {"source": ["Description", "Short description"], "parser": "html"},
                    "price": {"source": ["Sale price", "Regular price"], "parser": "price"},
                    "category_path": {
                        "source": "Categories",
                        "parser": "categories",
                        "pick": "deepest",
                        "rest_as": "other_categories",
                    },
                    "brand": "Brands",
                    "in_stock": "In stock?",
                    "shop_id": "Meta: shop_id",
                    "image_url": {"source": "Images", "parser": "first", "separator": ","},
                },
                "attributes": [
                    {"name": "sku", "source": "SKU"},
                    {"name": "gtin", "source": "GTIN, UPC, EAN, or ISBN"},
                    {"name": "tags", "source": "Tags", "parser": "list", "separator": ","},
                ],
            }
        )
    ]


def _homedepot(data_dir: Path) -> list[SourceSpec]:
    return [
        SourceSpec.model_validate(
            {
                "name": "homedepot",
                "format": "csv",
                "paths": [str(data_dir / "homedepot" / "products.csv")],
                "description": "Home Depot product titles (Kaggle search relevance set)",
                "fields": {"id": "product_uid", "title": "product_title"},
            }
        )
    ]


def _shoppingbench(data_dir: Path) -> list[SourceSpec]:
    return [
        SourceSpec.model_validate(
            {
                "name": "shoppingbench",
                "format": "jsonl",
                "paths": [str(data_dir / "shoppingbench" / "synthesize_web_simpleqa_test.jsonl")],
                "record_path": "reward",
                "currency": "PHP",
                "description": "the full product records inside ShoppingBench's web tasks (Lazada)",
                "fields": _SHOPPINGBENCH_FIELDS,
                "attributes": _SHOPPINGBENCH_ATTRIBUTES,
            }
        )
    ]


def _find(data_dir: Path, patterns: list[str], what: str) -> list[str]:
    """The user's file, or the release files inside the folder they pointed at."""
    if data_dir.is_file():
        return [str(data_dir)]
    if not data_dir.is_dir():
        raise UnknownPresetError(
            f"{what}: {data_dir} is neither a file nor a folder",
            hint="pass --data-dir pointing at the downloaded release",
        )
    for pattern in patterns:
        if list(data_dir.glob(pattern)):
            return [str(data_dir / pattern)]
    raise UnknownPresetError(f"{what}: no file matching {' or '.join(patterns)} in {data_dir}")


def _esci(data_dir: Path) -> list[SourceSpec]:
    paths = _find(
        data_dir,
        [
            "shopping_queries_dataset_products.parquet",
            "**/shopping_queries_dataset_products.parquet",
            "*.parquet",
        ],
        "esci",
    )
    return [
        SourceSpec.model_validate(
            {
                "name": "esci",
                "format": "parquet",
                "paths": paths,
                "description": "Amazon Shopping Queries (ESCI) products; id = <locale>-<ASIN>; no prices",
                "fields": {
                    "id": {"template": "{product_locale}-{product_id}"},
                    "title": "product_title",
                    "description": {"source": "product_description", "parser": "html"},
                    "bullet_points": {"source": "product_bullet_point", "parser": "list", "separator": "\n"},
                    "brand": "product_brand",
                },
                "attributes": [
                    {"name": "color", "source": "product_color"},
                    {"name": "locale", "source": "product_locale"},
                ],
            }
        )
    ]


def _wands(data_dir: Path) -> list[SourceSpec]:
    paths = _find(data_dir, ["product.csv", "dataset/product.csv", "**/product.csv"], "wands")
    return [
        SourceSpec.model_validate(
            {
                "name": "wands",
                "format": "tsv",
                "paths": paths,
                "description": "Wayfair WANDS products (tab-separated product.csv); no prices",
                "fields": {
                    "id": "product_id",
                    "title": "product_name",
                    "category_path": {
                        "source": ["category hierarchy", "category_hierarchy"],
                        "parser": "path",
                        "separator": "/",
                    },
                    "description": "product_description",
                    "rating": "average_rating",
                    "review_count": "rating_count",
                },
                "attributes": [
                    {"source": "product_features", "parser": "kv", "separator": "|", "kv_separator": ":"},
                    {"name": "product_class", "source": "product_class", "parser": "list", "separator": "|"},
                ],
            }
        )
    ]


def _amazon_reviews_2023(data_dir: Path) -> list[SourceSpec]:
    paths = _find(
        data_dir, ["meta_*.jsonl", "meta_*.jsonl.gz", "**/meta_*.jsonl", "**/meta_*.jsonl.gz"], "amazon"
    )
    if data_dir.is_dir():
        # .jsonl and .jsonl.gz of the same category may both be present; take whichever pattern matched first
        paths = paths[:1]
    return [
        SourceSpec.model_validate(
            {
                "name": "amazon_reviews_2023",
                "format": "jsonl",
                "paths": paths,
                "currency": "USD",
                "description": "Amazon Reviews 2023 item metadata (meta_<Category>.jsonl); id = parent_asin",
                "fields": {
                    "id": "parent_asin",
                    "title": "title",
                    "brand": "store",
                    "category_path": {"source": ["categories", "main_category"], "parser": "path"},
                    "price": {"source": "price", "parser": "price"},
                    "rating": "average_rating",
                    "review_count": "rating_number",
                    "bullet_points": {"source": "features", "parser": "list"},
                    "description": {"source": "description", "parser": "join"},
                    "image_url": {
                        "source": ["images.0.large", "images.0.hi_res", "images.large.0"],
                        "parser": "first",
                    },
                    "url": {"template": "https://www.amazon.com/dp/{parent_asin}"},
                },
                "attributes": [
                    {"source": "details", "parser": "attributes"},
                    {"name": "main_category", "source": "main_category"},
                ],
            }
        )
    ]


def _webshop(data_dir: Path) -> list[SourceSpec]:
    paths = _find(data_dir, ["items_shuffle*.json", "items_*.json", "**/items_shuffle*.json"], "webshop")
    if data_dir.is_dir():
        paths = paths[:1]
    return [
        SourceSpec.model_validate(
            {
                "name": "webshop",
                "format": "json",
                "paths": paths,
                "currency": "USD",
                "description": "WebShop scraped Amazon items (items_shuffle*.json, raw or processed keys)",
                "fields": {
                    "id": "asin",
                    "title": ["name", "Title"],
                    "brand": "brand",
                    "category_path": {
                        "source": ["product_category", "category"],
                        "parser": "path",
                        "separator": "›",
                    },
                    "description": {"source": ["full_description", "Description"], "parser": "join"},
                    "bullet_points": {"source": ["small_description", "BulletPoints"], "parser": "list"},
                    "price": {"source": ["pricing", "Price"], "parser": "price"},
                    "options": {"source": ["customization_options", "options"], "parser": "options"},
                    "rating": {"source": ["Rating", "average_rating"], "on_error": "missing"},
                    "image_url": {"source": ["images", "MainImage"], "parser": "first"},
                    "url": {"template": "https://www.amazon.com/dp/{asin}"},
                },
                "attributes": [
                    {"source": "product_information", "parser": "attributes"},
                    {"name": "features", "source": "Attributes", "parser": "list"},
                ],
            }
        )
    ]


def _shoppingbench_documents(data_dir: Path) -> list[SourceSpec]:
    paths = _find(data_dir, ["documents.jsonl.gz", "documents.jsonl", "**/documents.jsonl*"], "shoppingbench")
    return [
        SourceSpec.model_validate(
            {
                "name": "shoppingbench",
                "format": "jsonl",
                "paths": paths,
                "record_path": "product",
                "currency": "PHP",
                "description": "ShoppingBench's full 2.5M-product catalog (resources/documents.jsonl.gz)",
                "fields": _SHOPPINGBENCH_FIELDS,
                "attributes": _SHOPPINGBENCH_ATTRIBUTES,
            }
        )
    ]


_PRESETS: dict[str, Callable[[Path], list[SourceSpec]]] = {
    "icecat": _icecat,
    "amazon_in": _amazon_in,
    "myntra": _myntra,
    "bestbuy": _bestbuy,
    "webmall": _webmall,
    "homedepot": _homedepot,
    "shoppingbench": _shoppingbench,
    "esci": _esci,
    "wands": _wands,
    "amazon_reviews_2023": _amazon_reviews_2023,
    "webshop": _webshop,
    "shoppingbench_documents": _shoppingbench_documents,
}


class UnknownPresetError(UserError, ValueError):
    """A ``--preset`` name that is not defined; the message lists the valid ones."""


def preset_names() -> list[str]:
    """Every preset name: the shared-data catalogs first, then the full public releases."""
    return list(_PRESETS)


def preset(name: str, data_dir: Path) -> list[SourceSpec]:
    """The source specs of a preset.

    For the shared catalogs ``data_dir`` is the folder holding ``icecat/``, ``amazon_in/``, ... (like
    ``../shared/data``); for a full release it is the file or folder the user downloaded.
    """
    builder = _PRESETS.get(name)
    if builder is None:
        raise UnknownPresetError(f"unknown preset {name!r}", hint=f"valid presets: {', '.join(_PRESETS)}")
    return builder(Path(data_dir))
