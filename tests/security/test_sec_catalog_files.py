"""Hostile catalog files (issue 14, item 9): broken JSON arrays resynchronise, deep nesting is a reject, UTF-16
decodes, binary and broken-header files are one clear error naming the file, and every reader's counts
reconcile (``read == loaded + rejected + duplicates``) per file and per source."""

from __future__ import annotations

import gzip
import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "catalog_loader"))

from loader_helpers import Loaded, run_spec  # noqa: E402

from catalog_loader import SourceSpec, iter_sources, readers  # noqa: E402
from catalog_loader.readers import ReaderError  # noqa: E402
from sandbox.errors import UserError  # noqa: E402

FIELDS = {"id": "id", "title": "title"}


def _spec(path: Path, **extra: object) -> dict:
    return {"name": "s", "paths": [str(path)], "fields": FIELDS, **extra}


def _ids(out: Loaded) -> list[str]:
    return sorted(p.product_id.split(":", 1)[1] for p in out.products)


def _good(i: int) -> str:
    return json.dumps({"id": str(i), "title": f"Product {i}", "note": "has , and ] and } and { inside"})


# ------------------------------------------------------------------------------------------ JSON arrays

BROKEN_ELEMENTS = {
    "missing value": '{"id": "x", "title": }',
    "unterminated string": '{"id": "x", "title": "never closed}',
    "object never closed": '{"id": "x", "title": "open", "tags": ["a", {"b": 1}]',
    "stray junk": 'nonsense "with , a comma" ]] }',
    "bad literal": '{"id": "x", "title": tru}',
    "escaped quotes": '{"id": "x", "title": "a \\" quote", "n": 1.2.3}',
}


@pytest.mark.parametrize("chunk", [1 << 20, 7])
@pytest.mark.parametrize("broken", sorted(BROKEN_ELEMENTS))
def test_a_broken_array_element_loses_only_itself(
    broken: str, chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reproducing case: one malformed element used to cost the 5 valid rows after it."""
    monkeypatch.setattr(readers, "_CHUNK_CHARS", chunk)  # 7: every skip crosses many buffer refills
    elements = [_good(1), BROKEN_ELEMENTS[broken], *(_good(i) for i in range(2, 7))]
    path = tmp_path / "items.json"
    path.write_text("[\n" + ",\n".join(elements) + "\n]\n", encoding="utf-8")
    out = run_spec(_spec(path))
    assert _ids(out) == ["1", "2", "3", "4", "5", "6"]
    (reject,) = out.rejects
    assert reject.line == 3 and "malformed JSON" in reject.reason
    assert (out.report.read, out.report.loaded, out.report.rejected) == (7, 6, 1)


def test_missing_commas_and_trailing_text_are_rejects_not_lost_files(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(
        "[" + _good(1) + "\n " + _good(2) + ",\n" + _good(3) + ",\n" + _good(4) + "]\ngarbage after\n",
        encoding="utf-8",
    )
    out = run_spec(_spec(path))
    assert _ids(out) == ["1", "3", "4"]  # element 2 had no comma before it: skipped up to its own comma
    reasons = [r.reason for r in out.rejects]
    assert any("expected ',' or ']'" in r for r in reasons)
    assert any("after the closing ']'" in r for r in reasons)


def test_an_array_that_is_never_closed_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text("[" + _good(1) + ",\n" + _good(2) + ',\n{"id": "3", "title": "cut', encoding="utf-8")
    out = run_spec(_spec(path))
    assert _ids(out) == ["1", "2"]
    (reject,) = out.rejects
    assert reject.line == 3 and "never closed" in reject.reason


# ------------------------------------------------------------------------------------------ deep nesting

DEEP = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize("layout", ["jsonl", "json", "json-object"])
def test_a_50k_deep_field_is_a_reject_not_a_recursion_error(layout: str, tmp_path: Path) -> None:
    deep_row = '{"id": "2", "title": "Deep", "x": ' + DEEP + "}"
    if layout == "jsonl":
        path = tmp_path / "items.jsonl"
        path.write_text(f"{_good(1)}\n{deep_row}\n{_good(3)}\n", encoding="utf-8")
        expected, line = ["1", "3"], 2
    elif layout == "json":
        path = tmp_path / "items.json"
        path.write_text(f"[{_good(1)},\n{deep_row},\n{_good(3)}]", encoding="utf-8")
        expected, line = ["1", "3"], 2
    else:
        path = tmp_path / "item.json"
        path.write_text(deep_row, encoding="utf-8")
        expected, line = [], 1
    out = run_spec(_spec(path))
    assert _ids(out) == expected
    (reject,) = out.rejects
    assert reject.line == line and "nested too deeply" in reject.reason


def test_a_deep_value_in_a_mapped_field_is_a_reject(tmp_path: Path) -> None:
    """Deep enough to decode, then walked by the list parser: a reject (or a load), never an exception."""
    limit = sys.getrecursionlimit()
    nested = "[" * (limit - 50) + '"x"' + "]" * (limit - 50)
    path = tmp_path / "items.jsonl"
    path.write_text(f'{_good(1)}\n{{"id": "2", "title": "T", "tags": {nested}}}\n', encoding="utf-8")
    out = run_spec(_spec(path, fields={**FIELDS, "bullet_points": "tags"}))
    assert "1" in _ids(out) and out.report.read == 2


# ------------------------------------------------------------------------------------------ encodings

ROWS_CSV = "id,title\n1,Caf\u00e9 one\n2,\u65e5\u672c two\n"
ROWS_JSONL = '{"id": "1", "title": "Caf\u00e9 one"}\n{"id": "2", "title": "\u65e5\u672c two"}\n'


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_utf16_and_utf32_files_decode(codec: str, fmt: str, tmp_path: Path) -> None:
    if codec == "utf-32" and fmt != "csv":
        pytest.skip("one utf-32 case is enough")
    text = {"csv": ROWS_CSV, "jsonl": ROWS_JSONL, "json": "[" + ROWS_JSONL.strip().replace("\n", ",") + "]"}
    path = tmp_path / f"items.{fmt}"
    path.write_bytes(text[fmt].encode(codec))
    out = run_spec(_spec(path))
    assert {p.title for p in out.products} == {"Caf\u00e9 one", "\u65e5\u672c two"}
    assert out.rejects == []


def _error(tmp_path: Path, name: str, data: bytes, **extra: object) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ReaderError) as info:
        run_spec(_spec(path, **extra))
    assert isinstance(info.value, UserError)  # the CLI prints it as one line and exits 2
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_binary_files_are_one_clear_error_naming_the_file(tmp_path: Path) -> None:
    junk = bytes(range(256)) * 40
    for name in ("blob.csv", "blob.jsonl", "blob.json", "blob.tsv"):
        assert "binary file" in _error(tmp_path, name, junk)
    gz_bytes = gzip.compress(b"id,title\n1,One\n")
    assert "gzip" in _error(tmp_path, "packed.csv", gz_bytes)
    assert "a binary file" in _error(tmp_path, "nul.csv", b"id,title\n1,On\x00e\n")


def test_broken_containers_and_headers_are_one_clear_error(tmp_path: Path) -> None:
    assert "cannot be read" in _error(tmp_path, "bad.csv.gz", b"\x1f\x8bnot gzip" + bytes(64))
    assert "not a readable zip" in _error(tmp_path, "bad.zip", b"PK\x03\x04junk", format="csv")
    junk = bytes(range(256)) * 4
    assert "not a readable parquet" in _error(tmp_path, "bad.parquet", junk)
    assert "header row is not valid CSV" in _error(tmp_path, "hdr.csv", b'id,"title\n1,One\n')


@pytest.mark.parametrize(
    ("name", "data", "extra", "column", "where"),
    [
        ("dup.csv", b"id,title,price,price\n1,One,5,7\n", {}, "price", "3 and 4"),
        ("dup.tsv", b"id\ttitle\t title \n1\tOne\tTwo\n", {}, "title", "2 and 3"),  # equal once stripped
        ("dup_bom.csv", b"\xef\xbb\xbfid,title,id\n1,One,2\n", {}, "id", "1 and 3"),
        ("dup.csv.gz", gzip.compress(b"id,title,title\n1,A,B\n"), {}, "title", "2 and 3"),
        ("given.csv", b"1,One,x\n", {"header": False, "columns": ["id", "title", "id"]}, "id", "1 and 3"),
    ],
)
def test_duplicate_csv_columns_are_one_error_naming_the_file_and_column(
    tmp_path: Path, name: str, data: bytes, extra: dict, column: str, where: str
) -> None:
    """``id,title,price,price`` used to load silently with the second price overwriting the first."""
    message = _error(tmp_path, name, data, **extra)
    assert f"column {column!r} twice (columns {where})" in message, message


def test_duplicate_columns_in_a_companion_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "extra.csv").write_text("brand,brand\nAcme,Beta\n", encoding="utf-8")
    path = tmp_path / "main.csv"
    path.write_text("id,title\n1,One\n", encoding="utf-8")
    with pytest.raises(ReaderError, match=r"extra\.csv:1: the header row names column 'brand' twice"):
        run_spec(_spec(path, companion={"path": str(tmp_path / "extra.csv")}))


def test_duplicate_parquet_columns_are_one_error(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_arrays(
        [pa.array(["1"]), pa.array(["One"]), pa.array(["Two"])], ["id", "title", "title"]
    )
    path = tmp_path / "dup.parquet"
    pq.write_table(table, path)
    message = _error(tmp_path, "dup.parquet", path.read_bytes())
    assert "the parquet schema names column 'title' twice (columns 2 and 3)" in message, message


def test_distinct_columns_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("id,title,Title,title_2\n1,One,x,y\n", encoding="utf-8")  # names are case-sensitive
    assert _ids(run_spec(_spec(path))) == ["1"]


def test_a_truncated_gzip_keeps_the_rows_before_the_cut(tmp_path: Path) -> None:
    rows = "id,title\n" + "".join(f"{i},T {os.urandom(6).hex()}\n" for i in range(3000))
    packed = gzip.compress(rows.encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    out = run_spec(_spec(path))
    assert 500 < out.report.loaded < 3000
    (reject,) = out.rejects
    assert "truncated" in reject.reason and "rest of the file is lost" in reject.reason
    assert _ids(out) == sorted(str(i) for i in range(out.report.loaded))  # a prefix, in order


def test_strict_decoding_failure_part_way_is_a_reject(tmp_path: Path) -> None:
    body = "".join(f"{i},T{i}\n" for i in range(20_000))
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"id,title\n" + body.encode() + b"20000,caf\xe9\n")
    out = run_spec(_spec(path, encoding_errors="strict"))
    assert out.report.loaded > 0
    assert any("not valid utf-8" in r.reason for r in out.rejects)


# ------------------------------------------------------------------------------------------ accounting


def _parquet(path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"id": ["1", "2", "1", None], "title": ["One", "", "Dup", "No id"]})
    pq.write_table(table, path, row_group_size=2)


def _reader_cases(tmp_path: Path) -> list[dict]:
    """One source per reader, each with a good row, a bad row and a duplicate."""
    rows_csv = "id,title\n1,One\n2,\n1,Dup\n3,Three\n"
    (tmp_path / "a.csv").write_text(rows_csv, encoding="utf-8")
    (tmp_path / "a.tsv").write_text(rows_csv.replace(",", "\t"), encoding="utf-8")
    lines = ['{"id": "1", "title": "One"}', '{"id": "2"}', '{"id": "1", "title": "Dup"}', "{broken"]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "a.json").write_text("[" + ",\n".join(lines) + "]", encoding="utf-8")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as archive:
        archive.writestr("p1.csv", rows_csv)
        archive.writestr("p2.csv", "id,title\n3,Again three\n4,Four\n")
    (tmp_path / "nested.jsonl").write_text(
        '{"items": [{"id": "1", "title": "One"}, {"id": "1", "title": "Dup"}, 5]}\n{"items": []}\n',
        encoding="utf-8",
    )
    (tmp_path / "main.csv").write_text("id,title\n1,One\n2,\n", encoding="utf-8")
    (tmp_path / "extra.csv").write_text("brand\nAcme\nBeta\nSurplus\n", encoding="utf-8")
    _parquet(tmp_path / "a.parquet")
    return [
        _spec(tmp_path / "a.csv"),
        _spec(tmp_path / "a.tsv"),
        _spec(tmp_path / "a.jsonl"),
        _spec(tmp_path / "a.json"),
        _spec(tmp_path / "b.jsonl.gz"),
        _spec(tmp_path / "c.zip", format="csv"),
        _spec(tmp_path / "nested.jsonl", record_path="items"),
        _spec(tmp_path / "main.csv", companion={"path": str(tmp_path / "extra.csv")}),
        _spec(tmp_path / "a.parquet"),
    ]


def test_every_reader_reconciles_per_file_and_per_source(tmp_path: Path) -> None:
    for case in _reader_cases(tmp_path):
        out = run_spec(case)  # run_spec asserts report.reconciles (source, every file, files sum to source)
        report = out.report
        assert report.per_file and [f.file for f in report.per_file] == report.files
        for counts in report.per_file:
            assert counts.read == counts.loaded + counts.rejected + counts.duplicates, counts
        assert report.loaded >= 1 and report.rejected >= 1, (case["paths"], report)
        assert sum(f.rejected for f in report.per_file) == len(out.rejects)


def test_a_merged_source_reconciles_file_by_file(tmp_path: Path) -> None:
    specs = [SourceSpec.model_validate(case | {"name": "all"}) for case in _reader_cases(tmp_path)]
    reports, products = iter_sources(specs)
    loaded = sum(1 for _ in products)
    (report,) = reports
    assert report.reconciles and report.loaded == loaded
    assert len(report.per_file) == len(report.files) == 10  # nine sources, the zip has two members
    assert sum(f.duplicates for f in report.per_file) == report.duplicates > 0
