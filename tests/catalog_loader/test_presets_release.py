"""The full-release presets on small files written in each release's exact layout."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
from loader_helpers import Loaded, run_spec

from catalog_loader import preset


def _run_preset(name: str, data_dir: Path) -> Loaded:
    (spec,) = preset(name, data_dir)
    return run_spec(spec)


def test_esci_products_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [
        (
            "B000SAMPLE",
            "Stainless Water Bottle 750ml",
            "<p>Keeps drinks cold<br>for 24 hours</p>",
            "Leak proof\nBPA free",
            "HydroCo",
            "Blue",
            "us",
        ),
        (
            "B000SAMPLE",
            "Botella de agua 750ml",
            None,
            None,
            "HydroCo",
            "Azul",
            "es",
        ),  # same ASIN, other locale
        ("B000NOTITL", None, "desc", None, None, None, "us"),  # no title
        ("B000SAMPLE", "Stainless Water Bottle (again)", None, None, None, None, "us"),  # duplicate
        ("B0JP000001", "水筒 500ml", "保冷", "軽量", "サーモス", "黒", "jp"),
    ]
    columns = [
        "product_id",
        "product_title",
        "product_description",
        "product_bullet_point",
        "product_brand",
        "product_color",
        "product_locale",
    ]
    table = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})
    folder = tmp_path / "shopping_queries_dataset"
    folder.mkdir()
    pq.write_table(table, folder / "shopping_queries_dataset_products.parquet", row_group_size=2)

    out = _run_preset("esci", tmp_path)  # the folder holding the release
    assert (out.report.read, out.report.loaded, out.report.rejected, out.report.duplicates) == (5, 3, 1, 1)
    us = out.by_id()["esci:us-B000SAMPLE"]
    assert us.title == "Stainless Water Bottle 750ml" and us.brand == "HydroCo"
    assert us.description == "Keeps drinks cold for 24 hours"  # HTML reduced to text (whitespace collapsed)
    assert us.bullet_points == ["Leak proof", "BPA free"]
    assert us.attributes == {"color": ["Blue"], "locale": ["us"]} and us.price is None
    assert out.by_id()["esci:es-B000SAMPLE"].attributes["color"] == ["Azul"]
    assert out.by_id()["esci:jp-B0JP000001"].title == "水筒 500ml"
    assert out.reject_at(3).field == "product_title" and out.reject_at(3).reason == "title: missing"


WANDS_HEADER = (
    "product_id\tproduct_name\tproduct_class\tcategory hierarchy\tproduct_description\tproduct_features\t"
    "rating_count\taverage_rating\treview_count\n"
)


def test_wands_product_csv(tmp_path: Path) -> None:
    (tmp_path / "dataset").mkdir()
    path = tmp_path / "dataset" / "product.csv"
    path.write_text(
        WANDS_HEADER
        + "0\tsolid wood platform bed\tBeds\tFurniture / Bedroom Furniture / Beds & Headboards / Beds\t"
        "good , deep sleep can be quite difficult\toverallwidth-sidetoside:64.7|producttype : bed| : gray wood"
        "\t15.0\t4.5\t15.0\n"
        "1\tfletcher 27.5 '' wide polyester armchair\tTeen Lounge Furniture|Accent Chairs\t"
        "Furniture / Living Room Furniture / Chairs & Seating / Accent Chairs\t\tlegmaterialdetails : rubberwood"
        "\t1746.0\t4.5\t1226.0\n"
        "2\t\tBar Stools\tFurniture\tno name\t\t\t\t\n"
        "3\tmalibu shower panel\tShower Panels\tHome Improvement / Bathroom\tnice\t\t3.0\tfive\t2.0\n",
        encoding="utf-8",
    )
    out = _run_preset("wands", tmp_path)
    assert (out.report.read, out.report.loaded, out.report.rejected) == (4, 2, 2)
    bed = out.by_id()["wands:0"]
    assert bed.category_path == ["Furniture", "Bedroom Furniture", "Beds & Headboards", "Beds"]
    assert bed.attributes == {
        "overallwidth-sidetoside": ["64.7"],
        "producttype": ["bed"],
        "product_class": ["Beds"],
    }
    assert bed.rating == 4.5 and bed.review_count == 15 and bed.description.startswith("good , deep sleep")
    chair = out.by_id()["wands:1"]
    assert chair.attributes["product_class"] == ["Teen Lounge Furniture", "Accent Chairs"]
    assert chair.description is None and chair.review_count == 1746
    assert out.reject_at(4).field == "product_name"
    assert out.reject_at(5).field == "average_rating" and "expected a number" in out.reject_at(5).reason
    assert _run_preset("wands", path).report.loaded == 2  # the file itself works as well as its folder


def test_amazon_reviews_2023_meta_jsonl(tmp_path: Path) -> None:
    items = [
        {
            "main_category": "All Beauty",
            "title": "Howard LC0008 Leather Conditioner, 8-Ounce (4-Pack)",
            "average_rating": 4.8,
            "rating_number": 10,
            "features": ["Conditions leather", "Made in USA"],
            "description": ["Howard Leather Conditioner is a premium conditioner.", "Safe for all leather."],
            "price": None,
            "images": [
                {
                    "thumb": "t.jpg",
                    "large": "https://m.media-amazon.com/images/I/large1.jpg",
                    "variant": "MAIN",
                    "hi_res": None,
                }
            ],
            "videos": [],
            "store": "Howard Products",
            "categories": [],
            "details": {"Package Dimensions": "7.1 x 5.5 x 3 inches; 2.38 Pounds", "UPC": "617390882781"},
            "parent_asin": "B01CUPMQZE",
            "bought_together": None,
        },
        {
            "main_category": "Toys & Games",
            "title": "Wooden Puzzle",
            "average_rating": 4.1,
            "rating_number": 3,
            "features": [],
            "description": [],
            "price": "19.99",
            "images": {"hi_res": [None], "large": ["https://m.media-amazon.com/images/I/large2.jpg"]},
            "store": None,
            "categories": ["Toys & Games", "Puzzles", "Jigsaw Puzzles"],
            "details": '{"Best Sellers Rank": {"Toys & Games": 1234}, "Manufacturer": "PuzzleCo"}',
            "parent_asin": "B0PUZZLE01",
        },
        {"main_category": "Books", "title": "", "parent_asin": "B0NOTITLE1", "price": "None"},
        {
            "main_category": "Books",
            "title": "Priced weirdly",
            "parent_asin": "B0WEIRD001",
            "price": "from 5 to 9",
        },
    ]
    path = tmp_path / "meta_All_Beauty.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item) + "\n")
    out = _run_preset("amazon_reviews_2023", tmp_path)
    assert (out.report.read, out.report.loaded, out.report.rejected) == (4, 2, 2)
    howard = out.by_id()["amazon_reviews_2023:B01CUPMQZE"]
    assert howard.brand == "Howard Products" and howard.price is None and howard.currency is None
    assert howard.category_path == ["All Beauty"]  # categories empty -> main_category
    assert howard.rating == 4.8 and howard.review_count == 10
    assert howard.bullet_points == ["Conditions leather", "Made in USA"]
    assert howard.description == "Howard Leather Conditioner is a premium conditioner. Safe for all leather."
    assert howard.attributes["UPC"] == ["617390882781"] and howard.attributes["main_category"] == [
        "All Beauty"
    ]
    assert howard.image_url == "https://m.media-amazon.com/images/I/large1.jpg"
    assert howard.url == "https://www.amazon.com/dp/B01CUPMQZE"
    puzzle = out.by_id()["amazon_reviews_2023:B0PUZZLE01"]
    assert puzzle.price == Decimal("19.99") and puzzle.currency == "USD"
    assert puzzle.category_path == ["Toys & Games", "Puzzles", "Jigsaw Puzzles"]
    assert puzzle.attributes["Best Sellers Rank"] == ["Toys & Games: 1234"]
    assert puzzle.attributes["Manufacturer"] == ["PuzzleCo"]
    assert puzzle.image_url == "https://m.media-amazon.com/images/I/large2.jpg"
    assert out.reject_at(3).reason == "title: missing"
    assert out.reject_at(4).field == "price" and "expected a price" in out.reject_at(4).reason


def test_webshop_items_json(tmp_path: Path) -> None:
    items = [
        {
            "asin": "B07ABC1234",
            "category": "beauty",
            "query": "face cream",
            "name": "Organic Face Cream with Hyaluronic Acid",
            "product_category": "Beauty & Personal Care › Skin Care › Face › Creams & Moisturizers",
            "full_description": "A light daily cream.",
            "pricing": "$12.99",
            "images": ["https://m.media-amazon.com/images/I/cream.jpg"],
            "small_description": ["Hydrates skin", "Paraben free"],
            "customization_options": {"size": [{"value": "1.7 oz", "image": None}, {"value": "3.4 oz"}]},
            "product_information": {"Brand": "GlowCo", "Item Weight": "2 ounces"},
            "brand": "GlowCo",
        },
        {
            "asin": "B07RANGE01",
            "category": "fashion",
            "query": "sneakers",
            "name": "Running Sneakers",
            "product_category": "Clothing, Shoes & Jewelry › Men › Shoes",
            "full_description": "",
            "pricing": "$20.99 - $26.99",
            "images": [],
            "small_description": "Breathable mesh",
            "customization_options": None,
        },
        {"asin": "nan", "name": "No asin", "pricing": "$1.00"},
        {  # the processed layout WebShop's own loader writes
            "asin": "B07PROC001",
            "Title": "Processed Lamp",
            "Description": "Warm light.",
            "BulletPoints": ["LED"],
            "Price": "$100.0",
            "options": {"color": ["white", "black"]},
            "Rating": "N.A.",
            "MainImage": "https://m.media-amazon.com/images/I/lamp.jpg",
            "Attributes": ["energy efficient"],
            "category": "garden",
        },
    ]
    path = tmp_path / "items_shuffle_1000.json"
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")
    out = _run_preset("webshop", tmp_path)
    assert (out.report.read, out.report.loaded, out.report.rejected) == (4, 3, 1)
    cream = out.by_id()["webshop:B07ABC1234"]
    assert cream.category_path == ["Beauty & Personal Care", "Skin Care", "Face", "Creams & Moisturizers"]
    assert cream.price == Decimal("12.99") and cream.currency == "USD" and cream.brand == "GlowCo"
    assert cream.options == [{"size": "1.7 oz"}, {"size": "3.4 oz"}]
    assert cream.bullet_points == ["Hydrates skin", "Paraben free"]
    assert cream.attributes == {"Brand": ["GlowCo"], "Item Weight": ["2 ounces"]}
    assert cream.image_url == "https://m.media-amazon.com/images/I/cream.jpg"
    sneakers = out.by_id()["webshop:B07RANGE01"]
    assert sneakers.price == Decimal("20.99")  # a price range loads as its lowest price
    assert sneakers.bullet_points == ["Breathable mesh"] and sneakers.options == []
    lamp = out.by_id()["webshop:B07PROC001"]
    assert lamp.title == "Processed Lamp" and lamp.price == Decimal("100.0") and lamp.rating is None
    assert lamp.options == [{"color": "white"}, {"color": "black"}]
    assert lamp.category_path == ["garden"] and lamp.attributes == {"features": ["energy efficient"]}
    rejected = out.rejects[0]
    line_of_nan_item = path.read_text(encoding="utf-8").splitlines().index('    "asin": "nan",')  # "{" above
    assert rejected.field == "asin" and rejected.reason == "id: missing" and rejected.line == line_of_nan_item


def test_shoppingbench_documents_jsonl_gz(tmp_path: Path) -> None:
    product = {
        "product_id": "3706669986",
        "shop_id": "3450032",
        "brand": "",
        "category": "Media, Music & Books > Musical Instruments > Musical Accessories",
        "title": "Violin Bow",
        "short_description": "Carbon fiber;Horsehair;",
        "description": "Made by an experienced bow-maker.",
        "specification": "model:Violin Bow;condition:new",
        "price": 256.0,
        "sold_count": 2,
        "sku_options": {"1": {"size": "1/4 violin bow"}},
        "attributes": {"brand": ["heart string"]},
        "main_image_url": "https://ph-live.slatic.net/p/x.jpg",
        "product_url": "https://www.lazada.com.ph/products/-i3706669986.html",
        "service": ["COD"],
    }
    docs = [
        {"id": "3706669986", "contents": "Violin Bow\n1/4 violin bow\nheart string", "product": product},
        {"id": "1", "contents": "", "product": {**product, "product_id": "1", "price": -4.0}},
        {"id": "2", "contents": ""},
    ]
    path = tmp_path / "documents.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(d) for d in docs) + "\n")
    out = _run_preset("shoppingbench_documents", path)
    assert (out.report.read, out.report.loaded, out.report.rejected) == (3, 1, 2)
    p = out.by_id()["shoppingbench:3706669986"]  # same ids as the task targets in the shoppingbench preset
    assert p.brand is None and p.shop_id == "3450032" and p.price == Decimal("256.0") and p.currency == "PHP"
    assert p.bullet_points == ["Carbon fiber", "Horsehair"] and p.options == [{"size": "1/4 violin bow"}]
    assert p.attributes == {"brand": ["heart string"], "model": ["Violin Bow"], "condition": ["new"]}
    assert out.reject_at(2).field == "price" and "negative" in out.reject_at(2).reason
    assert out.reject_at(3).field == "product" and "no product" in out.reject_at(3).reason


def test_release_presets_explain_a_wrong_location(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no file matching"):
        preset("wands", tmp_path)
    with pytest.raises(ValueError, match="neither a file nor a folder"):
        preset("esci", tmp_path / "missing")
