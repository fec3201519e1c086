"""Hand-made broken files: every bad row is rejected with its line, field and reason; every good row loads."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from loader_helpers import run_spec

from catalog_loader import SourceSpec, SpecError, iter_source, iter_sources, readers
from catalog_loader.report import SourceReport

BROKEN_CSV = (
    "id,title,price,rating,tags\r\n"
    '1,Good one,"1,299.00",4.5,a|b\r\n'  # line 2: loads
    "2,,10.00,4,\r\n"  # line 3: missing title
    "3,Bad price,abc,4,\r\n"  # line 4: unparseable price
    '4,"Broken quote,5.00,3,\r\n'  # line 5: quote never closed properly
    "5,Fine five,5.00,3,x\r\n"  # line 6: loads (re-parsed after the broken quote)
    "6,Wrong rating,5.00,abc,\r\n"  # line 7: rating is not a number
    "1,Dup of one,3.00,4,\r\n"  # line 8: duplicate id
    '7,"Multi\r\nline title",7.50,5,\r\n'  # lines 9-10: one record over two lines, loads
    "8,Negative,-3,4,\r\n"  # line 11: negative price
    "9,Too many,1,2,3,4\r\n"  # line 12: extra fields
    "10,Rating high,1,7,\r\n"  # line 13: rating out of the 0..5 range
    "11,Last,2,,\r\n"  # line 14: loads, rating simply absent
)


def _csv_spec(path: Path, **extra: object) -> dict:
    return {
        "name": "shop",
        "paths": [str(path)],
        "currency": "usd",
        "fields": {
            "id": "id",
            "title": "title",
            "price": "price",
            "rating": "rating",
            "bullet_points": {"source": "tags", "parser": "list", "separator": "|"},
        },
        **extra,
    }


def test_broken_csv_rows_are_reported_and_good_rows_load(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_bytes(("\ufeff" + BROKEN_CSV).encode("utf-8"))
    out = run_spec(_csv_spec(path))

    assert sorted(out.by_id()) == ["shop:1", "shop:11", "shop:5", "shop:7"]
    assert (out.report.read, out.report.loaded, out.report.rejected, out.report.duplicates) == (12, 4, 7, 1)

    good = out.by_id()["shop:1"]
    assert good.title == "Good one" and good.price == Decimal("1299.00") and good.currency == "USD"
    assert good.rating == 4.5 and good.bullet_points == ["a", "b"] and good.source == "shop"
    assert out.by_id()["shop:7"].title == "Multi line title"
    assert out.by_id()["shop:11"].rating is None

    assert out.reject_at(3).field == "title" and "missing" in out.reject_at(3).reason
    assert out.reject_at(4).field == "price" and "expected a price" in out.reject_at(4).reason
    assert out.reject_at(4).value == "'abc'"
    assert out.reject_at(5).field is None and "malformed CSV" in out.reject_at(5).reason
    assert out.reject_at(7).field == "rating" and "expected a number" in out.reject_at(7).reason
    assert out.reject_at(11).field == "price" and "negative" in out.reject_at(11).reason
    assert "expected 5 fields, found 6" in out.reject_at(12).reason
    assert out.reject_at(13).field == "rating" and "less than or equal to 5" in out.reject_at(13).reason
    assert all(r.file == str(path) and r.source == "shop" for r in out.rejects)
    assert out.report.first_rejects == out.rejects  # fewer than 20: all kept for display


def test_unclosed_quote_at_the_end_of_the_file_loses_only_its_own_row(tmp_path: Path) -> None:
    path = tmp_path / "tail.csv"
    path.write_text('id,title,price\n1,One,1\n2,"Two,2\n3,Three,3\n4,Four,4\n', encoding="utf-8")
    out = run_spec(_csv_spec(path, fields={"id": "id", "title": "title", "price": "price"}))
    assert sorted(out.by_id()) == ["shop:1", "shop:3", "shop:4"]
    assert [r.line for r in out.rejects] == [3]


def test_headerless_file_with_named_columns_and_a_stray_bom(tmp_path: Path) -> None:
    path = tmp_path / "plain.tsv"
    path.write_text("a1\tAlpha\n\na2\tBeta\n", encoding="utf-8")
    out = run_spec(
        {
            "name": "h",
            "paths": [str(path)],
            "header": False,
            "columns": ["code", "label"],
            "fields": {"id": "code", "title": "label"},
        }
    )
    assert [(p.product_id, p.title) for p in out.products] == [("h:a1", "Alpha"), ("h:a2", "Beta")]
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffid,title\n1,One\n".encode())
    out = run_spec(
        {"name": "b", "paths": [str(bom)], "encoding": "utf-8", "fields": {"id": "id", "title": "title"}}
    )
    assert [p.product_id for p in out.products] == ["b:1"]


def test_lenient_fields_drop_bad_values_instead_of_rejecting(tmp_path: Path) -> None:
    path = tmp_path / "lenient.csv"
    path.write_text("id,title,rating\n1,One,Get\n2,Two,4.0\n", encoding="utf-8")
    out = run_spec(
        {
            "name": "s",
            "paths": [str(path)],
            "fields": {"id": "id", "title": "title", "rating": {"source": "rating", "on_error": "missing"}},
        }
    )
    assert out.report.rejected == 0
    assert out.by_id()["s:1"].rating is None and out.by_id()["s:2"].rating == 4.0


def test_jsonl_wrong_types_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "title": "Alpha", "rating": 4, "price": "12,50 €"},  # 1 loads
        {"id": "b", "title": ["not", "a", "string"]},  # 2 a list where a string is expected
        {"id": "c", "title": "Gamma", "rating": "abc"},  # 3 typed field with text
        "{not json",  # 4
        [1, 2],  # 5 not an object
        "",  # 6 blank: skipped, not counted
        {"id": None, "title": "No id"},  # 7 missing id
        {"id": 17, "title": "Numeric id", "in_stock": "perhaps"},  # 8 bad flag
        {"id": 18, "title": "Numeric id", "in_stock": "yes", "review_count": 3.0},  # 9 loads
    ]
    path = tmp_path / "items.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    out = run_spec(
        {
            "name": "j",
            "paths": [str(path)],
            "currency": "EUR",
            "fields": {
                "id": "id",
                "title": "title",
                "rating": "rating",
                "price": "price",
                "in_stock": "in_stock",
                "review_count": "review_count",
            },
        }
    )
    assert sorted(out.by_id()) == ["j:18", "j:a"]
    assert out.by_id()["j:a"].price == Decimal("12.50")
    assert out.by_id()["j:18"].in_stock is True and out.by_id()["j:18"].review_count == 3
    assert (out.report.read, out.report.rejected) == (8, 6)
    assert out.reject_at(2).field == "title" and "expected a string, got list" in out.reject_at(2).reason
    assert out.reject_at(3).field == "rating"
    assert "invalid JSON" in out.reject_at(4).reason
    assert "expected a JSON object, found list" in out.reject_at(5).reason
    assert out.reject_at(7).field == "id" and "missing" in out.reject_at(7).reason
    assert out.reject_at(8).field == "in_stock" and "yes/no" in out.reject_at(8).reason


def test_json_array_streams_across_chunk_boundaries_with_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [
        {"id": f"p{i}", "title": f"Product {i} \u00e9", "price": 1000 + i, "ok": i % 2 == 0, "n": 1.5e-3 * i}
        for i in range(60)
    ]
    path = tmp_path / "items.json"
    path.write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(readers, "_CHUNK_CHARS", 7)  # force decoding across many tiny refills
    with path.open("rb") as raw:
        got = list(readers.iter_json(readers.text_stream(raw, "utf-8", "strict"), "items.json"))
    assert [r.data for r in got] == records
    # json.dumps(indent=1) puts "[" on line 1 and each 7-line object right after the previous one
    assert [r.line for r in got] == [2 + 7 * i for i in range(60)]


def test_json_array_with_a_broken_element_reports_it_and_loads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(
        '[\n {"id": "1", "title": "One"},\n {"id": "2", "title": },\n {"id": "3", "title": "Three"}\n]\n',
        encoding="utf-8",
    )
    out = run_spec({"name": "b", "paths": [str(path)], "fields": {"id": "id", "title": "title"}})
    assert list(out.by_id()) == ["b:1", "b:3"]
    assert len(out.rejects) == 1 and out.rejects[0].line == 3
    assert "malformed JSON" in out.rejects[0].reason


def test_gzip_and_zip_members_are_read_transparently(tmp_path: Path) -> None:
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as handle:
        handle.write('{"id": 1, "title": "gz one"}\n{"id": 2, "title": "gz two"}\n')
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("part1.csv", "id,title\n3,zip three\n")
        zf.writestr("part2.csv", "id,title\n4,zip four\n5,\n")
        zf.writestr("notes.txt", "ignored")
        zf.writestr("__MACOSX/._part1.csv", b"\x00\x05junk")
    reports, products = iter_sources(
        [
            SourceSpec.model_validate(
                {"name": "mix", "paths": [str(gz)], "fields": {"id": "id", "title": "title"}}
            ),
            SourceSpec.model_validate(
                {
                    "name": "mix",
                    "paths": [str(archive)],
                    "format": "csv",
                    "zip_members": "*.csv",
                    "fields": {"id": "id", "title": "title"},
                }
            ),
        ]
    )
    ids = [p.product_id for p in products]
    assert ids == ["mix:1", "mix:2", "mix:3", "mix:4"]
    (report,) = reports
    assert (report.read, report.loaded, report.rejected) == (5, 4, 1)
    assert report.first_rejects[0].file == f"{archive}!part2.csv" and report.first_rejects[0].line == 3
    assert report.files == [str(gz), f"{archive}!part1.csv", f"{archive}!part2.csv"]


def test_sources_merge_with_qualified_ids_and_per_source_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a1.csv").write_text("id,title\n1,A one\n2,A two\n", encoding="utf-8")
    (tmp_path / "a2.csv").write_text("id,title\n2,A two again\n3,A three\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("id,title\n1,B one\n", encoding="utf-8")
    fields = {"id": "id", "title": "title"}
    specs = [
        SourceSpec.model_validate({"name": "a", "paths": [str(tmp_path / "a1.csv")], "fields": fields}),
        SourceSpec.model_validate({"name": "b", "paths": [str(tmp_path / "b.csv")], "fields": fields}),
        SourceSpec.model_validate({"name": "a", "paths": [str(tmp_path / "a2.csv")], "fields": fields}),
    ]
    reports, products = iter_sources(specs)
    assert [r.source for r in reports] == ["a", "b"]
    assert all(r.read == 0 for r in reports)  # nothing happens until the stream is consumed
    items = list(products)
    assert [p.product_id for p in items] == ["a:1", "a:2", "a:3", "b:1"]
    assert [p.title for p in items if p.product_id == "a:2"] == ["A two"]  # the first one wins
    a, b = reports
    assert (a.read, a.loaded, a.duplicates, b.read, b.loaded) == (4, 3, 1, 1, 1)


def test_record_path_selects_nested_products(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    rows = [
        {"query": "q1", "reward": {"product_id": "1", "title": "One"}},
        {
            "query": "q2",
            "reward": [{"product_id": "2", "title": "Two"}, {"product_id": "3", "title": "Three"}],
        },
        {"query": "q3"},
        {"query": "q4", "reward": ["nope"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out = run_spec(
        {
            "name": "t",
            "paths": [str(path)],
            "record_path": "reward",
            "fields": {"id": "product_id", "title": "title"},
        }
    )
    assert sorted(out.by_id()) == ["t:1", "t:2", "t:3"]
    assert out.reject_at(3).field == "reward" and "no product" in out.reject_at(3).reason
    assert out.reject_at(4).reason == "expected a JSON object"
    assert out.report.read == 5


def test_companion_rows_are_matched_by_position(tmp_path: Path) -> None:
    (tmp_path / "main.csv").write_text("id,colour\r\n1,Red\r\n2,Blue\r\n3,Green\r\n", encoding="utf-8")
    (tmp_path / "text.csv").write_text("name\r\nRed shirt\r\nBlue shirt\r\n", encoding="utf-8")
    out = run_spec(
        {
            "name": "m",
            "paths": [str(tmp_path / "main.csv")],
            "companion": {"path": str(tmp_path / "text.csv")},
            "fields": {"id": "id", "title": "name"},
            "attributes": [{"name": "colour", "source": "colour"}],
        }
    )
    assert [(p.product_id, p.title, p.attributes) for p in out.products] == [
        ("m:1", "Red shirt", {"colour": ["Red"]}),
        ("m:2", "Blue shirt", {"colour": ["Blue"]}),
    ]
    assert out.reject_at(4).file == str(tmp_path / "main.csv") and "companion" in out.reject_at(4).reason


def test_a_mapping_that_names_a_missing_column_fails_before_loading(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("id,name\n1,One\n", encoding="utf-8")
    spec = SourceSpec.model_validate(
        {"name": "x", "paths": [str(path)], "fields": {"id": "id", "title": "title"}}
    )
    with pytest.raises(
        SpecError, match=r"title maps to 'title', not a column of this file \(columns: 'id', 'name'\)"
    ):
        list(iter_source(spec, SourceReport(source="x")))


def test_missing_files_and_bad_parser_choices_are_spec_errors(tmp_path: Path) -> None:
    spec = SourceSpec.model_validate(
        {"name": "x", "paths": [str(tmp_path / "nope-*.csv")], "fields": {"id": "id", "title": "t"}}
    )
    with pytest.raises(SpecError, match="no file matches"):
        list(iter_source(spec, SourceReport(source="x")))
    (tmp_path / "a.csv").write_text("id,t\n1,x\n", encoding="utf-8")
    bad = SourceSpec.model_validate(
        {
            "name": "x",
            "paths": [str(tmp_path / "a.csv")],
            "fields": {"id": "id", "title": {"source": "t", "parser": "price"}},
        }
    )
    with pytest.raises(SpecError, match="field 'title' cannot use parser 'price'"):
        iter_sources([bad])


@pytest.mark.slow
def test_memory_stays_flat_as_the_number_of_rows_grows(tmp_path: Path) -> None:
    def peak_for(rows: int) -> int:
        path = tmp_path / f"big{rows}.csv"
        with path.open("w", encoding="utf-8") as handle:
            handle.write("id,title,price,description\n")
            for i in range(rows):
                handle.write(f"{i},Product number {i},{i % 997}.99,{'long description text ' * 20}\n")
        spec = SourceSpec.model_validate(
            {
                "name": "big",
                "paths": [str(path)],
                "fields": {"id": "id", "title": "title", "price": "price", "description": "description"},
            }
        )
        report = SourceReport(source="big")
        tracemalloc.start()
        try:
            count = sum(1 for _ in iter_source(spec, report))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == rows
        return peak

    small, large = peak_for(2_000), peak_for(20_000)
    # Only the duplicate check grows: an 8-byte digest per id, ~170 B at the peak of a CPython set resize, so
    # 18k more rows add ~3 MB. Keeping the products themselves would add ~45 MB.
    assert large - small < 8_000_000, (small, large)
