"""The SFT export: split files by task split, byte-identical reruns, a dataset card, rows that ``datasets`` loads
back unchanged from JSONL and Parquet, simplified tool schemas, one call per turn on request, and the
``prgym distill`` flags (``--format``, ``--arguments``, ``--split-parallel-calls``, ``--catalog``,
``--push-to-hub`` to a local folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripted_runs import SPLITS
from typer.testing import CliRunner

from harness.cli import app
from harness.distill import FilterConfig, build_candidates, distill, validate_sample
from harness.distill.export import ExportOptions, export_sample, write_dataset
from harness.distill.schema import SchemaError, drop_null_arguments, simplify_schema
from sandbox.recorder import read_traces

OPTIONS = [
    ExportOptions(),
    ExportOptions(arguments="string"),
    ExportOptions(split_parallel_calls=True),
    ExportOptions(arguments="string", split_parallel_calls=True),
]


@pytest.fixture(scope="module")
def kept(scripted_runs: Path):
    config = FilterConfig()
    samples, _ = distill(build_candidates(read_traces(scripted_runs), config), config)
    assert len(samples) >= 6  # two teachers x four tasks, less the duplicates
    return samples


def _counts(kept) -> dict[str, int]:
    return {s: sum(k.meta["split"] == s for k in kept) for s in ("train", "eval", "test")}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_file_per_task_split_sorted_by_episode_with_a_card(kept, tmp_path: Path) -> None:
    report = write_dataset(reversed(list(kept)), tmp_path / "ds")
    expected = _counts(kept)
    assert set(SPLITS) == set(expected) and all(expected.values())
    assert report.counts == expected and list(report.files) == ["train", "eval", "test"]
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == [
        "README.md",
        "eval.jsonl",
        "test.jsonl",
        "train.jsonl",
    ]
    for split, name in report.files.items():
        rows = _jsonl(tmp_path / "ds" / name)
        ids = [r["meta"]["episode_id"] for r in rows]
        assert ids == sorted(ids) and len(rows) == expected[split]
        assert {r["meta"]["split"] for r in rows} == {split}
    card = (tmp_path / "ds" / "README.md").read_text()
    snapshot = kept[0].meta["catalog_snapshot"]
    assert "- split: eval\n    path: eval.jsonl" in card and f"`{snapshot}`" in card
    assert f"| train | `train.jsonl` | {expected['train']} |" in card and f"| total | | {len(kept)} |" in card
    wide = sum(k.meta["teacher"] == "scripted-wide" for k in kept)
    assert f"`scripted-narrow` {len(kept) - wide}, `scripted-wide` {wide}" in card
    # a rerun with no eval/test samples leaves no stale split file behind
    again = write_dataset([k for k in kept if k.meta["split"] == "train"], tmp_path / "ds")
    assert list(again.files) == ["train"]
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["README.md", "train.jsonl"]


@pytest.mark.parametrize("data_format", ["jsonl", "parquet"])
def test_two_runs_write_byte_identical_folders(kept, tmp_path: Path, data_format: str) -> None:
    first = write_dataset(kept, tmp_path / "a", data_format=data_format)
    write_dataset(list(reversed(kept)), tmp_path / "b", data_format=data_format)
    names = [*first.files.values(), "README.md"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: f"{o.arguments}-split{int(o.split_parallel_calls)}"
)
def test_datasets_loads_every_row_back_unchanged_from_jsonl_and_parquet(
    kept, tmp_path: Path, options: ExportOptions
) -> None:
    datasets = pytest.importorskip("datasets")
    jsonl = write_dataset(kept, tmp_path / "jsonl", options=options)
    write_dataset(kept, tmp_path / "parquet", data_format="parquet", options=options)
    for split, name in jsonl.files.items():
        rows = _jsonl(tmp_path / "jsonl" / name)
        from_json = datasets.load_dataset(
            "json",
            data_files=str(tmp_path / "jsonl" / name),
            split="train",
            cache_dir=str(tmp_path / "hf-cache"),
        )
        parquet = str(tmp_path / "parquet" / f"{split}.parquet")
        from_parquet = datasets.load_dataset(
            "parquet", data_files=parquet, split="train", cache_dir=str(tmp_path / "hf-cache")
        )
        assert [dict(r) for r in from_json] == rows
        assert [dict(r) for r in from_parquet] == rows
        # the calculate call keeps only its own argument (no other tool's keys filled with null)
        calc = next(
            c["function"]["arguments"]
            for m in from_json[0]["messages"]
            for c in m.get("tool_calls") or []
            if c["function"]["name"] == "calculate"
        )
        assert (json.loads(calc) if isinstance(calc, str) else calc).keys() == {"expression"}
    # the card's YAML header lets datasets find the split files in the folder
    # a fresh cache: datasets can serve a folder of the same file names from its shared cache, rows of an
    # earlier run included (seen here after the task generator changed); every load in these tests gets its own
    folder = datasets.load_dataset(str(tmp_path / "jsonl"), cache_dir=str(tmp_path / "hf-cache"))
    assert {s: folder[s].num_rows for s in folder} == jsonl.counts


def test_exported_samples_stay_valid(kept, small_snapshot: Path) -> None:
    from sandbox.env import shared_backend

    backend = shared_backend(small_snapshot)
    for options in OPTIONS:
        for sample in kept:
            row = export_sample(sample, options)
            assert validate_sample(row, catalog=backend) == [], options
            kinds = {
                type(c["function"]["arguments"]) for m in row["messages"] for c in m.get("tool_calls") or []
            }
            assert kinds == ({dict} if options.arguments == "object" else {str})


def test_the_viewer_reads_a_dataset_folder(kept, tmp_path: Path) -> None:
    from harness.view.load import RunFolderError, load_distill

    write_dataset(kept, tmp_path / "ds")
    (tmp_path / "ds" / "decisions.jsonl").write_text(json.dumps({"episode_id": "e", "kept": False}) + "\n")
    data = load_distill(tmp_path / "ds")
    assert set(data.samples) == {k.meta["episode_id"] for k in kept} and set(data.decisions) == {"e"}
    write_dataset(kept, tmp_path / "pq", data_format="parquet")
    with pytest.raises(RunFolderError, match="no \\*.jsonl split files"):
        load_distill(tmp_path / "pq")


def test_split_parallel_calls_interleaves_each_call_with_its_result(kept) -> None:
    sample = kept[0]
    row = export_sample(sample, ExportOptions(split_parallel_calls=True))
    original = [c["id"] for m in sample.messages for c in m.get("tool_calls") or []]
    flat = []
    for message, following in zip(row["messages"], row["messages"][1:], strict=False):
        if message.get("tool_calls"):
            (call,) = message["tool_calls"]
            assert following["role"] == "tool" and following["tool_call_id"] == call["id"]
            flat.append(call["id"])
    assert flat == original
    parallel = next(m for m in sample.messages if len(m.get("tool_calls") or []) > 1)
    first = next(m for m in row["messages"] if m.get("tool_calls") == [row_call(row, parallel)])
    assert first["content"] == parallel["content"]


def row_call(row: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    call_id = message["tool_calls"][0]["id"]
    return next(c for m in row["messages"] for c in m.get("tool_calls") or [] if c["id"] == call_id)


def test_schema_simplification() -> None:
    schema = {
        "type": "object",
        "properties": {
            "filters": {
                "anyOf": [{"$ref": "#/$defs/F"}, {"type": "null"}],
                "default": None,
                "description": "d",
            },
            "sort": {"$ref": "#/$defs/S", "default": "a"},
            "n": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        },
        "required": ["sort"],
        "$defs": {
            "F": {
                "type": "object",
                "description": "model doc",
                "properties": {"x": {"type": ["number", "null"]}},
            },
            "S": {"enum": ["a", "b"], "type": "string"},
        },
    }
    assert simplify_schema(schema) == {
        "type": "object",
        "properties": {
            "filters": {"type": "object", "description": "d", "properties": {"x": {"type": "number"}}},
            "sort": {"enum": ["a", "b"], "type": "string", "default": "a"},
            "n": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        },
        "required": ["sort"],
    }
    with pytest.raises(SchemaError, match="recursive"):
        simplify_schema(
            {"$defs": {"N": {"properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"}
        )
    with pytest.raises(SchemaError, match="no such entry"):
        simplify_schema({"properties": {"a": {"$ref": "#/$defs/Missing"}}})
    required = {"required": ["q"], "properties": {"f": {"properties": {}}}}
    assert drop_null_arguments({"q": None, "f": {"a": None, "b": 1}, "l": [None]}, required) == {
        "q": None,
        "f": {"b": 1},
        "l": [None],
    }


def test_distill_command_flags(kept, scripted_runs: Path, small_snapshot: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out, mirror = tmp_path / "ds", tmp_path / "mirror"
    args = ["distill", str(scripted_runs), "--out", str(out), "--format", "parquet", "--arguments", "string"]
    args += ["--split-parallel-calls", "--catalog", str(small_snapshot), "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--push-to-hub", f"file://{mirror}"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "written: train (train.parquet)" in result.output and f"pushed to {mirror}" in result.output
    loaded = datasets.load_dataset(str(mirror), cache_dir=str(tmp_path / "hf-cache"))
    assert {s: loaded[s].num_rows for s in loaded} == _counts(kept)
    row = loaded["train"][0]
    assert all(len(m.get("tool_calls") or []) <= 1 for m in row["messages"])
    assert all(
        isinstance(c["function"]["arguments"], str)
        for m in row["messages"]
        for c in m.get("tool_calls") or []
    )
    # one file instead of a folder; the old --snapshot flag still works (hidden, with a warning)
    single = tmp_path / "all.jsonl"
    legacy = CliRunner().invoke(
        app, ["distill", str(scripted_runs), "--out", str(single), "--snapshot", str(small_snapshot)]
    )
    assert legacy.exit_code == 0, legacy.output
    assert "--snapshot is deprecated" in legacy.output and len(_jsonl(single)) == len(kept)
    help_text = CliRunner().invoke(app, ["distill", "--help"], env={"COLUMNS": "200"}).output
    assert (
        "--catalog" in help_text and "--snapshot" not in help_text and "--split-parallel-calls" in help_text
    )
    for bad, where in [
        (["--arguments", "json"], "--arguments"),
        (["--format", "csv"], "--format"),
        (["--format", "parquet", "--out", str(single)], "--format"),
    ]:
        run = CliRunner().invoke(app, ["distill", str(scripted_runs), "--out", str(out), *bad])
        assert run.exit_code == 2 and where in run.output, run.output


def test_numbers_datasets_would_misread_are_counted_and_really_misread(kept, tmp_path: Path) -> None:
    """pandas' ujson (inside ``datasets``) parses ``0.3`` as ``0.30000000000000004``: the export counts such
    arguments in the report and the card, and the count is what ``datasets`` really does to the rows."""
    datasets = pytest.importorskip("datasets")
    sample = kept[0].model_copy(deep=True)
    call = next(
        c
        for m in sample.messages
        for c in m.get("tool_calls") or []
        if c["function"]["name"] == "product_search"
    )
    arguments = json.loads(call["function"]["arguments"])
    arguments["filters"] = {**(arguments.get("filters") or {}), "min_rating": 0.3, "price_max": 1000.0}
    call["function"]["arguments"] = json.dumps(arguments)
    clean = write_dataset(kept[:1], tmp_path / "clean")
    report = write_dataset([sample], tmp_path / "shifted")
    assert clean.misread_numbers == 0 and report.misread_numbers == 1
    assert "1 number(s) in tool-call arguments" in (tmp_path / "shifted" / "README.md").read_text()
    (name,) = report.files.values()
    row = _jsonl(tmp_path / "shifted" / name)[0]
    loaded = datasets.load_dataset(
        "json",
        data_files=str(tmp_path / "shifted" / name),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )[0]
    assert loaded != row and loaded["meta"] == row["meta"] and loaded["tools"] == row["tools"]

    def ratings(r: dict[str, Any]) -> list[Any]:
        return [
            c["function"]["arguments"].get("filters", {}).get("min_rating")
            for m in r["messages"]
            for c in m.get("tool_calls") or []
            if c["function"]["name"] == "product_search"
        ]

    assert 0.3 in ratings(row) and 0.3 not in ratings(loaded)
    as_strings = write_dataset([sample], tmp_path / "strings", options=ExportOptions(arguments="string"))
    assert as_strings.misread_numbers == 0  # inside a JSON string the number is text
