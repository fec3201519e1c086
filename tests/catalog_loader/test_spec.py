"""User spec files (JSON and TOML): shorthand, relative paths, preset entries and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loader_helpers import run_spec

from catalog_loader import SourceSpec, SpecError, load_spec_file
from catalog_loader.load import check_sources
from catalog_loader.report import reports_table

TOML_SPEC = """
[[sources]]
name = "shop"
paths = ["data/*.tsv"]
currency = "eur"

[sources.fields]
id = "sku"
title = "name"
price = { source = "price", decimal = "," }
category_path = { source = "cat", parser = "path", separator = "/" }
in_stock = "stock"
url = { template = "https://shop.example/p/{sku}" }

[[sources.attributes]]
name = "colour"
source = "colour"

[[sources.attributes]]
source = "specs"
parser = "kv"
separator = "|"
"""


def test_toml_spec_file_with_relative_glob(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.tsv").write_text(
        "sku\tname\tprice\tcat\tstock\tcolour\tspecs\n"
        "k1\tKettle\t1.299,00\tHome / Kitchen\tyes\tred\twatts:2000|volume:1.7 l\n"
        "k2\tMug\t4,5\tHome\tno\t\t\n",
        encoding="utf-8",
    )
    spec_path = tmp_path / "sources.toml"
    spec_path.write_text(TOML_SPEC, encoding="utf-8")
    (spec,) = load_spec_file(spec_path)
    assert spec.format == "tsv" and spec.currency == "EUR"
    assert spec.paths == [tmp_path / "data" / "*.tsv"]
    out = run_spec(spec)
    kettle, mug = out.products
    assert kettle.product_id == "shop:k1" and kettle.price == 1299 and kettle.currency == "EUR"
    assert kettle.category_path == ["Home", "Kitchen"] and kettle.in_stock is True
    assert kettle.url == "https://shop.example/p/k1"
    assert kettle.attributes == {"colour": ["red"], "watts": ["2000"], "volume": ["1.7 l"]}
    assert str(mug.price) == "4.5" and mug.in_stock is False and mug.attributes == {}


def test_json_spec_file_mixes_presets_and_custom_sources(tmp_path: Path, shared_data: Path) -> None:
    (tmp_path / "extra.jsonl").write_text('{"id": 1, "name": "Widget"}\n', encoding="utf-8")
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(
        json.dumps(
            {
                "sources": [
                    {"preset": "homedepot", "data_dir": str(shared_data)},
                    {"name": "mine", "paths": "extra.jsonl", "fields": {"id": "id", "title": "name"}},
                ]
            }
        ),
        encoding="utf-8",
    )
    specs = load_spec_file(spec_path)
    assert [s.name for s in specs] == ["homedepot", "mine"]
    assert specs[1].format == "jsonl" and specs[1].paths == [tmp_path / "extra.jsonl"]
    reports = check_sources(specs, show_progress=False)
    assert [(r.source, r.loaded) for r in reports] == [("homedepot", 54_667), ("mine", 1)]
    assert reports_table(reports).row_count == 3  # two sources and the total


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("[]", ".json", "non-empty list of sources"),
        ("{broken", ".json", "invalid JSON at line 1"),
        ("[[sources]]\nname = 1", ".toml", r"source #1 \(1\): name: Input should be a valid string"),
        (
            '[{"name": "x", "paths": "a.csv", "fields": {"id": "id"}}]',
            ".json",
            "fields.title: Field required",
        ),
        ('[{"name": "x y", "paths": "a.csv", "fields": {"id": "i", "title": "t"}}]', ".json", "must start"),
        (
            '[{"name": "x", "paths": "a.txt", "fields": {"id": "i", "title": "t"}}]',
            ".json",
            "cannot tell the format",
        ),
        (
            '[{"name": "x", "paths": "a.csv", "fields": {"id": "i", "title": "t", "colour": "c"}}]',
            ".json",
            "fields.colour: Extra inputs are not permitted",
        ),
        (
            '[{"name": "x", "paths": "a.csv", "fields": {"id": {"source": "i", "template": "{i}"}, "title": "t"}}]',
            ".json",
            "exactly one of source, template or value",
        ),
        ('[{"preset": "nope"}]', ".json", "unknown preset 'nope'"),
        ("name: x", ".yaml", "must end in .json or .toml"),
    ],
)
def test_spec_file_errors_say_what_to_fix(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"spec{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        load_spec_file(path)


def test_attribute_sources_need_a_name_or_a_mapping_parser() -> None:
    with pytest.raises(ValueError, match="needs a name, a prefix"):
        SourceSpec.model_validate(
            {"name": "x", "paths": "a.csv", "fields": {"id": "i", "title": "t"}, "attributes": ["colour"]}
        )
