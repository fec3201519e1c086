"""A newcomer's mistakes and rough edges (issue 15, items 5 and 7): one line, exit 2, nothing silently lost.

Each test runs the command a user would type (through Typer's runner, in process) on the real shared data.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.cli.catalog import results_table
from sandbox.tasks.history import CatalogTooSmallError
from sandbox.tasks.taskset import TaskSet, TaskSetFormatError

runner = CliRunner()


def _one_line_error(args: list[str], *needles: str, env: dict[str, str | None] | None = None) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "200", "PRGYM_DEBUG": "", **(env or {})})
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _tiny_snapshot(shared_data: Path, tmp_path: Path) -> Path:
    """Three real Home Depot products: a valid catalog far too small for the user agent."""
    rows = (shared_data / "homedepot" / "products.csv").read_text(encoding="utf-8").splitlines()[:4]
    (tmp_path / "tiny.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        f'[[sources]]\nname = "tiny"\nformat = "csv"\npaths = ["{tmp_path / "tiny.csv"}"]\n'
        '[sources.fields]\nid = "product_uid"\ntitle = "product_title"\n',
        encoding="utf-8",
    )
    out = tmp_path / "tiny"
    result = runner.invoke(app, ["catalog", "build", "--spec", str(spec), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


# -- item 5: user mistakes are one line ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["verify", "push"])
def test_verify_and_push_on_a_missing_or_foreign_folder(command: str, tmp_path: Path) -> None:
    extra = ["--es", "http://127.0.0.1:9"] if command == "push" else []
    _one_line_error(
        ["catalog", command, "--catalog", str(tmp_path / "nope"), *extra], "does not exist", "catalog build"
    )
    (tmp_path / "notes.txt").write_text("not a snapshot", encoding="utf-8")
    _one_line_error(["catalog", command, "--catalog", str(tmp_path), *extra], "not a catalog snapshot")


def test_build_into_a_foreign_folder_is_refused_in_one_line(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me", encoding="utf-8")
    _one_line_error(
        ["catalog", "build", "--preset", "webmall", "--data-dir", str(shared_data), "--out", str(tmp_path)],
        "is not a catalog snapshot; nothing was written",
        "another --out",
    )
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "keep me"


def test_missing_dense_extra_is_one_line_with_the_cpu_pin_before_any_work(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **k: None if name == "sentence_transformers" else real_find_spec(name, *a, **k),
    )
    out = tmp_path / "snap"
    _one_line_error(
        [
            "catalog",
            "build",
            "--preset",
            "webmall",
            "--data-dir",
            str(shared_data),
            "--out",
            str(out),
            "--dense",
        ],
        "sentence_transformers",
        "pip install torch==2.13.0",
        'prgym[dense]"',
    )
    assert list(tmp_path.iterdir()) == [], "nothing may be built before the extras are checked"


def test_tasks_generate_on_a_tiny_catalog_is_one_line(shared_data: Path, tmp_path: Path) -> None:
    tiny = _tiny_snapshot(shared_data, tmp_path)
    out = tmp_path / "tasks.jsonl"
    _one_line_error(
        ["tasks", "generate", "--catalog", str(tiny), "-n", "2", "--out", str(out), "--no-progress"],
        "no coherent shopping history",
        "--preset bestbuy",
    )
    assert not out.exists()
    debug = runner.invoke(
        app,
        [
            "--debug",
            "tasks",
            "generate",
            "--catalog",
            str(tiny),
            "-n",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert isinstance(debug.exception, CatalogTooSmallError)


def _tasks_file_with_a_cut_line_5(small_snapshot: Path, tmp_path: Path) -> Path:
    from sandbox.env import shared_backend
    from sandbox.tasks.generator import generate_tasks

    path = TaskSet(generate_tasks(shared_backend(small_snapshot), 4, 0)).save(tmp_path / "tasks.jsonl")
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"task_id": "cut", "query": "a kettle under\n')
    return path


def test_tasks_file_json_error_names_the_file_line_and_column(small_snapshot: Path, tmp_path: Path) -> None:
    path = _tasks_file_with_a_cut_line_5(small_snapshot, tmp_path)
    with pytest.raises(TaskSetFormatError) as info:
        TaskSet.load(path)
    # The cut line is 41 characters long: the unterminated string starts at column 29.
    assert f"{path}:5: not valid JSON at column 29" in str(info.value)
    assert "line 2" not in str(info.value) and "column 0" not in str(info.value)
    _one_line_error(
        ["run", "--tasks", str(path), "--catalog", str(small_snapshot), "--out", str(tmp_path / "run")],
        "tasks.jsonl:5: not valid JSON at column 29",
    )
    assert not (tmp_path / "run").exists()


# -- item 7: small ones ------------------------------------------------------------------------------------------


def test_titles_have_html_entities_decoded_at_load(shared_data: Path) -> None:
    """Real rows: Home Depot ``Briggs &amp; Stratton``, ``Baker&#39;s``; WebMall ``&amp;amp;`` (escaped twice)."""
    from catalog_loader import iter_sources, preset

    raw = {}
    for name, path in (
        ("homedepot", shared_data / "homedepot" / "products.csv"),
        ("webmall", shared_data / "webmall" / "webmall_2.csv"),
    ):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                title = row.get("product_title") or row.get("Name") or ""
                if re.search(r"&(#\d+|[a-z]+);", title):
                    raw[name] = raw.get(name, 0) + 1
    assert raw["homedepot"] > 1000 and raw["webmall"] > 50, raw  # the data really has them

    _, products = iter_sources([*preset("homedepot", shared_data), *preset("webmall", shared_data)])
    titles = {p.product_id: p.title for p in products}
    assert titles["homedepot:100011"].endswith("Gas Lawn Mower with Briggs & Stratton Engine")
    assert titles["homedepot:100082"] == "Corner Baker's Rack with Slate Top"
    twice = [t for pid, t in titles.items() if pid.startswith("webmall:") and "BK033 Pure Rock 2 FX" in t]
    assert twice and "Heatsink & Fan, Intel & AMD Sockets" in twice[0], twice
    left = [t for t in titles.values() if re.search(r"&(#\d+|#x[0-9a-f]+|amp|quot|lt|gt|nbsp|rsquo);", t)]
    assert left == []


def _render(table, width: int) -> str:
    from rich.console import Console

    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


@pytest.mark.parametrize("width", [40, 60, 80])
def test_search_table_never_cuts_a_product_id(width: int) -> None:
    rows = [
        {
            "#": str(i),
            "product_id": f"shoppingbench:51228863{i:02d}",
            "score": "17.035",
            "title": "Be Quiet! Silent Base 802 Gaming Case, E-ATX, 3 x Pure Wings 2 Fans, Fan Controller",
            "brand": "Be Quiet! Manufacturing International",
            "price": "24.99 EUR",
            "rating": "4.5",
        }
        for i in range(1, 11)
    ]
    text = _render(results_table(rows, "10 matches, page 1", width), width)
    for row in rows:
        assert row["product_id"] in text, text
    assert max(len(line) for line in text.splitlines()) <= max(width, 24 + 4)


def test_search_at_80_columns_shows_every_id_whole(small_snapshot: Path) -> None:
    args = [
        "catalog",
        "search",
        "--catalog",
        str(small_snapshot),
        "samsung galaxy phone case",
        "--page-size",
        "20",
    ]
    ids = [h["product_id"] for h in json.loads(runner.invoke(app, [*args, "--json"]).output)["hits"]]
    assert ids
    result = runner.invoke(app, args, env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    for product_id in ids:
        assert product_id in result.output, (product_id, result.output)


def test_a_page_past_the_end_says_so(small_snapshot: Path) -> None:
    result = runner.invoke(
        app, ["catalog", "search", "--catalog", str(small_snapshot), "tv", "--page", "99999"]
    )
    total = json.loads(
        runner.invoke(app, ["catalog", "search", "--catalog", str(small_snapshot), "tv", "--json"]).output
    )["total"]
    pages = -(-total // 10)
    assert f"page 99999 is past the end: {total:,} matches fill {pages:,} page(s)" in " ".join(
        result.output.split()
    )


def test_build_without_data_or_network_names_the_network_and_preset(tmp_path: Path) -> None:
    """No PRGYM_DATA_DIR, an empty data home and nothing to download from (a refused connection)."""
    out = tmp_path / "snap"
    _one_line_error(
        ["catalog", "build", "--out", str(out), "--no-progress"],
        "cannot be downloaded: no network access to 127.0.0.1:9",
        "--preset NAME",
        env={
            "PRGYM_DATA_DIR": None,
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "PRGYM_CACHE_DIR": str(tmp_path / "cache"),
            "PRGYM_DATA_MIRROR": "http://127.0.0.1:9",
        },
    )
    assert not out.exists()


def test_demo_never_writes_into_a_data_folder_it_is_given(shared_data: Path, tmp_path: Path) -> None:
    """A given data folder lacking a dataset is an error saying how to fetch it, not a download into it."""
    data = tmp_path / "data"
    for name in ("bestbuy", "webmall", "amazon_in"):  # no shoppingbench
        shutil.copytree(shared_data / name, data / name)
    before = sorted(str(p.relative_to(data)) for p in data.rglob("*"))
    _one_line_error(
        ["demo", "--data-dir", str(data), "--workdir", str(tmp_path / "work")],
        "shoppingbench missing",
        f"prgym data fetch shoppingbench --data-dir {data}",
    )
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*")) == before
    assert not (tmp_path / "work").exists()
