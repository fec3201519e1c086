"""Distilled samples of the scripted baseline (reasoning from internalized critiques, parallel searches, every tool)
exported by ``prgym distill``'s writer, loaded back with ``datasets`` and rendered through the real chat templates
in the TRL wheel. Each call's arguments must appear exactly once in the text, in the template's own encoding
(JSON for most, key/value blocks for GLM and the Qwen3.5-style XML), never JSON-encoded twice; the tool schemas
must reach the text without ``$ref``/``$defs``/``anyOf``. The failure modes the flags exist for are checked
through the same templates, so these tests can tell a broken export from a good one."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from chat_template import render, tokenizer_with, trl_template

from harness.distill import FilterConfig, build_candidates, distill
from harness.distill.export import ExportOptions, write_dataset
from sandbox.recorder import read_traces

TOOLS = {"product_search", "visit_product", "calculate", "submit_report"}

#: (template, export options, how it writes arguments, whether it shows reasoning_content of these turns)
CASES: list[tuple[str, ExportOptions, str, bool]] = [
    ("qwen2_5", ExportOptions(), "json", False),
    ("qwen3", ExportOptions(), "json", True),
    ("qwen3", ExportOptions(arguments="string"), "json", True),
    ("qwen3_instruct_2507", ExportOptions(), "json", False),
    ("qwen3_5_think", ExportOptions(), "xml", True),
    ("qwen3_5_nothink", ExportOptions(), "xml", True),
    ("qwen3_6", ExportOptions(), "xml", True),
    ("qwen3_8", ExportOptions(), "xml", True),
    ("nemotron_3_nano", ExportOptions(), "xml", True),
    ("nemotron_3_super", ExportOptions(), "xml", True),
    ("glm4moe", ExportOptions(), "glm", True),
    ("gptoss", ExportOptions(split_parallel_calls=True), "json", False),
    ("llama3_1", ExportOptions(split_parallel_calls=True), "json", False),
    ("llama3_2", ExportOptions(split_parallel_calls=True), "json", False),
    ("deepseekv3", ExportOptions(arguments="string"), "json", False),
]


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def expected_arguments(style: str, name: str, arguments: Any) -> str:
    """How the template writes one call's arguments (the text that must occur once per call)."""
    if isinstance(arguments, str):  # --arguments string: templates paste the text as it is
        return arguments
    if style == "json":
        return json.dumps(arguments, ensure_ascii=False)
    if style == "glm":
        pairs = "".join(
            f"<arg_key>{k}</arg_key>\n<arg_value>{_value_text(v)}</arg_value>\n" for k, v in arguments.items()
        )
        return f"<tool_call>{name}\n{pairs}</tool_call>"
    if style == "xml":
        params = "".join(f"<parameter={k}>\n{_value_text(v)}\n</parameter>\n" for k, v in arguments.items())
        return f"<function={name}>\n{params}</function>"
    raise AssertionError(style)


def calls_of(row: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (c["function"]["name"], c["function"]["arguments"])
        for m in row["messages"]
        for c in m.get("tool_calls") or []
    ]


@pytest.fixture(scope="module")
def kept(scripted_runs: Path):
    config = FilterConfig()
    samples, report = distill(build_candidates(read_traces(scripted_runs / "scripted-wide"), config), config)
    assert report.kept == 4
    return samples


def _exported(kept, options: ExportOptions, folder: Path) -> list[dict[str, Any]]:
    """The samples as a trainer gets them: written by the exporter, read back by ``datasets``."""
    datasets = pytest.importorskip("datasets")
    report = write_dataset(kept, folder, options=options)
    rows: list[dict[str, Any]] = []
    for name in report.files.values():
        rows += list(
            datasets.load_dataset(
                "json",
                data_files=str(folder / name),
                split="train",
                cache_dir=str(folder.parent / "hf-cache"),
            )
        )
    assert len(rows) == len(kept)
    return rows


def test_the_samples_exercise_reasoning_parallel_calls_and_every_tool(kept) -> None:
    for sample in kept:
        names = {c["function"]["name"] for m in sample.messages for c in m.get("tool_calls") or []}
        assert names == TOOLS
        assert max(len(m.get("tool_calls") or []) for m in sample.messages) >= 2
        assert any(m.get("reasoning_content") for m in sample.messages)


@pytest.mark.parametrize(("template", "options", "style", "shows_reasoning"), CASES)
def test_real_templates_render_each_call_once_without_double_encoding(
    kept, tmp_path: Path, template: str, options: ExportOptions, style: str, shows_reasoning: bool
) -> None:
    for row in _exported(kept, options, tmp_path):
        text = render(template, row)
        calls = calls_of(row)
        if options.split_parallel_calls:
            assert all(len(m.get("tool_calls") or []) <= 1 for m in row["messages"])
        wanted = Counter(expected_arguments(style, name, args) for name, args in calls)
        for block, count in wanted.items():
            assert text.count(block) == count, (template, block[:120])
        for _, args in calls:
            once = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            assert json.dumps(once, ensure_ascii=False)[1:-1] not in text  # the JSON text, escaped again
        for tool in TOOLS:
            assert tool in text
        for marker in ('"$ref"', '"$defs"', '"anyOf"', "#/$defs/"):
            assert marker not in text, (template, marker)
        reasoning = [m["reasoning_content"] for m in row["messages"] if m.get("reasoning_content")]
        if shows_reasoning:
            assert reasoning and all(r.strip() in text for r in reasoning)
        assert row["messages"][-1]["content"].strip() in text


def test_without_the_flags_the_same_templates_break(kept, tmp_path: Path) -> None:
    jinja2 = pytest.importorskip("jinja2")
    as_strings = _exported(kept, ExportOptions(arguments="string"), tmp_path / "strings")
    as_objects = _exported(kept, ExportOptions(), tmp_path / "objects")
    row_s, row_o = as_strings[0], as_objects[0]
    # qwen2_5 pastes `arguments | tojson`: a string argument is encoded twice
    text = render("qwen2_5", row_s)
    _, first = calls_of(row_s)[0]
    assert json.dumps(first, ensure_ascii=False)[1:-1] in text
    # the GLM-4 template iterates arguments.items(): strings raise
    with pytest.raises(jinja2.exceptions.UndefinedError, match="has no attribute 'items'"):
        render("glm4moe", row_s)
    # Llama 3.1 refuses a turn with several calls; gpt-oss silently renders only the first call of a turn
    with pytest.raises(jinja2.exceptions.TemplateError, match="single tool-calls"):
        render("llama3_1", row_o)
    text = render("gptoss", row_o)
    counts = [text.count(expected_arguments("json", n, a)) for n, a in calls_of(row_o)]
    assert 0 in counts and 1 in counts
    # DeepSeek-V3 concatenates the arguments as a string: objects raise
    with pytest.raises(TypeError):
        render("deepseekv3", row_o)


def test_raw_pydantic_schemas_would_reach_the_prompt(kept) -> None:
    """What the schema simplification removes: the env's own schemas print ``$ref``/``anyOf`` through Qwen."""
    raw = kept[0].model_dump()
    text = tokenizer_with(trl_template("qwen3")).apply_chat_template(
        [{"role": "user", "content": "hi"}], tools=raw["tools"], tokenize=False
    )
    assert '"$ref"' in text and '"anyOf"' in text
