"""Every shared-data preset on the real files: exact counts, and records checked field by field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from catalog_loader import SHARED_PRESETS, Reject, SourceReport, iter_sources, preset, preset_names
from sandbox.catalog.product import Product

# (read, loaded, rejected, duplicates), measured on ../shared/data and explained in docs/catalog_sources.md
EXPECTED_COUNTS = {
    "icecat": (19_406, 19_406, 0, 0),
    "amazon_in": (
        10_930,
        9_898,
        0,
        1_032,
    ),  # every link has an ASIN; 1,032 ASINs are listed in several categories
    "myntra": (44_446, 44_439, 7, 0),  # 7 rows whose productDisplayName is the null marker "NA"
    "bestbuy": (3_291, 3_291, 0, 0),
    "webmall": (1_108, 1_108, 0, 0),
    "homedepot": (54_667, 54_667, 0, 0),
    "shoppingbench": (150, 143, 0, 7),  # 7 web tasks share a target product with another task
}

SPOT_IDS = {
    "icecat:2101957",
    "amazon_in:B0BQ3MXML8",
    "myntra:39386",
    "bestbuy:5428602",
    "webmall:1-1770",
    "webmall:2-3506",
    "webmall:4-1449",
    "homedepot:100002",
    "shoppingbench:3706669986",
}


@pytest.fixture(scope="module")
def loaded(shared_data: Path) -> tuple[dict[str, SourceReport], dict[str, Product], list[Reject], set[str]]:
    """All shared presets loaded together once (about 135k rows)."""
    specs = [spec for name in SHARED_PRESETS for spec in preset(name, shared_data)]
    rejects: list[Reject] = []
    reports, products = iter_sources(specs, on_reject=rejects.append)
    spot: dict[str, Product] = {}
    ids_seen: set[str] = set()
    prefixes_ok = True
    for product in products:
        prefixes_ok &= product.product_id.startswith(product.source + ":")
        ids_seen.add(product.product_id)
        if product.product_id in SPOT_IDS:
            spot[product.product_id] = product
    assert prefixes_ok
    return {r.source: r for r in reports}, spot, rejects, ids_seen


def test_preset_names_cover_shared_and_release_datasets() -> None:
    names = preset_names()
    assert names[: len(SHARED_PRESETS)] == list(SHARED_PRESETS)
    assert {"esci", "wands", "amazon_reviews_2023", "webshop", "shoppingbench_documents"} <= set(names)
    with pytest.raises(ValueError, match="unknown preset 'nope'; valid presets: icecat, amazon_in"):
        preset("nope", Path("."))


@pytest.mark.slow
@pytest.mark.parametrize("name", SHARED_PRESETS)
def test_exact_counts_per_preset(loaded, name: str) -> None:
    reports, _, _, _ = loaded
    report = reports[name]
    assert (report.read, report.loaded, report.rejected, report.duplicates) == EXPECTED_COUNTS[name]
    assert report.reconciles


def test_ids_are_unique_across_the_merged_catalog(loaded) -> None:
    reports, _, _, ids = loaded
    assert len(ids) == sum(r.loaded for r in reports.values())


def test_every_reject_names_file_line_and_reason(loaded, shared_data: Path) -> None:
    _, _, rejects, _ = loaded
    assert len(rejects) == 7
    for reject in rejects:
        assert reject.source == "myntra"
        assert reject.file == str(shared_data / "myntra" / "styles.csv")
        assert reject.field == "productDisplayName" and reject.reason == "title: missing"
    assert [r.line for r in rejects][:2] == [3679, 14304]
    lines = (shared_data / "myntra" / "styles_text.csv").read_text(encoding="utf-8").splitlines()
    assert all(lines[r.line - 1] == "NA" for r in rejects)  # the same row of the companion file


def test_icecat_record(loaded) -> None:
    p = loaded[1]["icecat:2101957"]
    assert p.title.startswith('HP Pavilion dv7-1211ea Notebook Silver 43.2 cm (17")')
    assert p.brand == "HP" and p.price == Decimal("109.95") and p.currency is None
    assert p.category_path == []  # Icecat has no category field; none is invented
    assert p.description.startswith("Intel Core 2 Duo Processor P7450")
    attrs = p.attributes
    assert attrs["product_type"] == ["Notebook"]
    assert attrs["display_diagonal"] == ["17"]  # attr_n_ 17.0
    assert attrs["processor_frequency"] == ["2.13"]
    assert attrs["touchscreen"] == ["no"]  # attr_b_ false
    assert attrs["model"] == ["dv7-1211ea"] and attrs["ean"] == ["0884420588030"]
    assert attrs["release_date"] == ["2008-12-19"]
    assert p.image_url == "http://images.icecat.biz/img/gallery_mediums/2101957_8011415648.jpg"


def test_amazon_in_record(loaded) -> None:
    p = loaded[1]["amazon_in:B0BQ3MXML8"]
    assert p.title.startswith("LG 1.5 Ton 5 Star AI DUAL Inverter Split AC") and p.title.endswith(
        "Protectio..."
    )
    assert (
        p.price == Decimal("46490") and p.currency == "INR"
    )  # discount_price "₹46,490" wins over actual_price
    assert p.attributes == {"list_price": ["75990"]}
    assert p.rating == 4.2 and p.review_count == 2948
    assert p.category_path == ["appliances", "Air Conditioners"]
    assert p.url.startswith("https://www.amazon.in/") and "/dp/B0BQ3MXML8/" in p.url
    assert p.image_url == "https://m.media-amazon.com/images/I/51JFb7FctDL._AC_UL320_.jpg"


def test_myntra_record(loaded) -> None:
    p = loaded[1]["myntra:39386"]
    assert p.title == "Peter England Men Party Blue Jeans"  # from styles_text.csv, same row
    assert p.category_path == ["Men", "Apparel", "Bottomwear", "Jeans"]
    assert p.attributes == {"colour": ["Blue"], "season": ["Summer"], "year": ["2012"], "usage": ["Casual"]}
    assert p.price is None and p.description is None


def test_bestbuy_record(loaded) -> None:
    p = loaded[1]["bestbuy:5428602"]  # the SKU from 5428602_sb.jpg
    assert p.title == "Boost Mobile - LG Tribute HD 4G LTE with 16GB Memory Prepaid Cell Phone - White"
    assert p.brand == "Boost Mobile" and p.price == Decimal("79.99") and p.currency == "USD"
    assert p.category_path == ["Cell Phones", "Prepaid Phones", "All Prepaid Phones"]
    assert p.popularity == 21429 and p.description.startswith("Slide the slim profile")


def test_webmall_records(loaded) -> None:
    spot = loaded[1]
    speakers = spot["webmall:1-1770"]
    assert speakers.shop_id == "1" and speakers.price == Decimal("29.99") and speakers.in_stock is True
    assert speakers.category_path == [
        "Peripherals",
        "Speakers",
    ]  # the deepest of "Hama, Peripherals > Speakers"
    assert speakers.attributes == {"other_categories": ["Hama"]}
    assert speakers.description.startswith('Hama "Sonic Mobil 183" Notebook Speaker')
    assert "<p>" not in speakers.description
    adapter = spot["webmall:2-3506"]
    assert adapter.price == Decimal("6.99")  # the sale price wins over the regular "8.0"
    assert adapter.category_path == ["Hardware", "PC Components", "Adapters"]
    tablet = spot["webmall:4-1449"]
    assert tablet.price is None and tablet.title.startswith("Tablet SAMSUNG Galaxy Tab S9")  # no price given


def test_homedepot_record(loaded) -> None:
    p = loaded[1]["homedepot:100002"]
    assert p.title == "BEHR Premium Textured DeckOver 1-gal. #SC-141 Tugboat Wood and Concrete Coating"
    assert p.model_dump(exclude_defaults=True) == {
        "product_id": p.product_id,
        "title": p.title,
        "source": "homedepot",
    }


def test_shoppingbench_record(loaded) -> None:
    p = loaded[1]["shoppingbench:3706669986"]
    assert p.shop_id == "3450032" and p.brand == "HEART STRING" and p.currency == "PHP"
    assert p.price == Decimal("256.0") and p.popularity == 2
    assert p.category_path == ["Media, Music & Books", "Musical Instruments", "Musical Accessories"]
    assert p.options[0] == {"size": "1/4 violin bow"} and len(p.options) == 5
    assert p.services == ["COD", "flashsale"]
    assert p.attributes["brand"] == [
        "heart string"
    ]  # attributes and specification merged, values de-duplicated
    assert p.attributes["music_accessories_function"] == ["tuning"]
    assert p.attributes["condition"] == ["new"] and p.attributes["model"] == ["violin bow", "Violin Bow"]
    assert (
        p.bullet_points[0]
        == "The bow is made by experienced bow-maker. It will provides you warm and clear tone."
    )
    assert len(p.bullet_points) == 5
    assert p.url == "https://www.lazada.com.ph/products/-i3706669986.html"
