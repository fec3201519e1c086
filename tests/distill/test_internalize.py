"""Reflective internalization of recorded critique-and-revise episodes: valid samples that keep what each
critique taught, contain no supervisor turn, load with ``datasets`` and render through a chat template."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from chat_template import tokenizer_with, trl_template

from harness.distill import internalize, validate_sample
from harness.distill.export import write_dataset
from sandbox.env import shared_backend
from sandbox.recorder import read_traces


def _accepted(recorded):
    path, facts = recorded
    return [(t, f) for t, f in zip(read_traces(path), facts, strict=True) if t.accepted]


def test_samples_pass_the_validator_against_the_snapshot(recorded, small_snapshot: Path) -> None:
    backend = shared_backend(small_snapshot)
    for trace, _ in _accepted(recorded):
        done = internalize(trace)
        sample = done.sample.model_dump()
        assert validate_sample(sample, catalog=backend, forbidden_texts=done.forbidden_texts) == []
        assert validate_sample(sample, catalog=trace.known_product_ids) == []
        roles = [m["role"] for m in sample["messages"]]
        assert roles == [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
        ]
        assert done.dropped_turns == 2 and done.dropped_calls == 1 and done.lessons >= 2
        calls = [c["function"]["name"] for m in sample["messages"] for c in m.get("tool_calls") or []]
        assert calls == ["product_search", "visit_product", "submit_report"]
        assert sample["messages"][-1]["content"] == trace.report
        assert sample["meta"]["teacher"] == "scripted" and sample["meta"]["episode_id"] == trace.episode_id


def test_reflection_keeps_each_critique_and_no_supervisor_turn(recorded) -> None:
    for trace, fact in _accepted(recorded):
        done = internalize(trace)
        messages = done.sample.messages
        assert not any(m.get("name") in ("supervisor", "environment") for m in messages)
        text = json.dumps(messages)
        assert "[supervisor]" not in text and "supervisor" not in text.lower()
        plan_turn, submit_turn = messages[2], messages[6]
        submitted = json.loads(submit_turn["tool_calls"][0]["function"]["arguments"])["report"]
        assert (
            fact["wrong_price"] not in submitted and fact["catalog_price"] in submitted
        )  # rejected report gone
        # ...the missing constraints the plan critique named are in the reflection of the plan turn...
        plan_critiques = trace.steps[0].verdicts[0]["critiques"]
        assert plan_critiques and plan_turn["content"].startswith("Plan:")
        for critique in plan_critiques:
            requirement = re.search(r"requirement '(.+)' \(", critique["message"]).group(1)
            assert f"never mentions the requirement '{requirement}'" in plan_turn["reasoning_content"]
        # ...and the corrected price is in the reflection of the turn that submitted the corrected report.
        reflection = submit_turn["reasoning_content"]
        assert fact["catalog_price"] in reflection and fact["first_id"] in reflection
        assert "[P:" not in reflection and "Fix:" not in reflection
        assert submit_turn["tool_calls"][0]["function"]["name"] == "submit_report"
        assert [t.message_index for t in done.turns] == [2, 6]


def test_validator_catches_leaks_in_a_raw_transcript(recorded) -> None:
    trace, _ = _accepted(recorded)[0]
    raw = {
        "messages": trace.opening
        + [m for s in trace.steps for m in [s.assistant, *s.tool_messages, *s.feedback]],
        "tools": trace.tools,
    }
    codes = {i.code for i in validate_sample(raw, catalog=trace.known_product_ids)}
    assert "supervisor_leak" in codes and "role_order" in codes


def test_samples_load_with_datasets_and_render_with_a_chat_template(recorded, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    samples = [internalize(t).sample for t, _ in _accepted(recorded)]
    report = write_dataset(samples, tmp_path / "ds")
    dataset = datasets.load_dataset(
        "json",
        data_files=str(tmp_path / "ds" / "train.jsonl"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert report.counts == {"train": 3} and dataset.num_rows == len(samples) == 3
    assert set(dataset.column_names) == {"messages", "tools", "meta"}
    tokenizer = tokenizer_with(trl_template("qwen3"))
    for row, sample in zip(dataset, samples, strict=True):
        text = tokenizer.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
        for name in ("product_search", "visit_product", "calculate", "submit_report"):
            assert f'"name": "{name}"' in text
        assert text.count('<tool_call>\n{"name": "') == 3
        for message in row["messages"]:
            for call in message.get("tool_calls") or []:
                assert text.count(json.dumps(call["function"]["arguments"], ensure_ascii=False)) == 1
        assert (
            sample.messages[6]["reasoning_content"] in text
            and sample.messages[2]["reasoning_content"] in text
        )
        encoded = tokenizer.apply_chat_template(row["messages"], tools=row["tools"], tokenize=True)
        ids = encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded
        assert len(ids) > 50
