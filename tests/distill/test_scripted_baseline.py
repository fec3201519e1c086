"""The must-show path of issue 7 on the scripted baseline: its trajectories under rule-based supervision (each
with a critique-and-revise) become samples that pass the validator, load with ``datasets`` and render through a
chat template with tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chat_template import tokenizer_with, trl_template
from scripted_runs import AFTERCARE_CRITERION, N_TASKS, TEACHERS

from harness.distill import (
    FilterConfig,
    build_candidates,
    distill,
    internalize,
    validate_sample,
)
from harness.distill.export import write_dataset
from sandbox.env import shared_backend
from sandbox.recorder import EpisodeTrace, read_traces


def _wide(scripted_runs: Path) -> list[EpisodeTrace]:
    return read_traces(scripted_runs / "scripted-wide")


def _reports(trace: EpisodeTrace) -> list[tuple[str, bool]]:
    """Every submitted report of the episode with whether the supervisor accepted it."""
    out = []
    for step in trace.steps:
        answers = [v for v in step.verdicts if v.get("kind") == "answer"]
        calls = [
            c for c in step.assistant.get("tool_calls") or [] if c["function"]["name"] == "submit_report"
        ]
        for call, verdict in zip(calls, answers, strict=True):
            out.append((json.loads(call["function"]["arguments"])["report"], bool(verdict["passed"])))
    return out


def test_every_episode_has_a_critique_then_an_accepted_revision(scripted_runs: Path) -> None:
    traces = read_traces(scripted_runs)
    assert len(traces) == N_TASKS * len(TEACHERS)
    for trace in traces:
        reports = _reports(trace)
        assert trace.accepted and trace.finished
        assert len(reports) >= 2, trace.episode_id
        (first, first_ok), (last, last_ok) = reports[0], reports[-1]
        assert not first_ok and last_ok and all(not ok for _, ok in reports[:-1])
        rejected = next(v for s in trace.steps for v in s.verdicts if v.get("kind") == "answer")
        checks = {c["check"] for c in rejected["critiques"]}
        assert "rubric_coverage" in checks, rejected
        assert "aftercare" not in first.lower() and AFTERCARE_CRITERION in last
        assert trace.report == last


def test_scripted_samples_pass_the_validator_and_hide_the_rejected_report(
    scripted_runs: Path, small_snapshot: Path
) -> None:
    backend = shared_backend(small_snapshot)
    for trace in _wide(scripted_runs):
        done = internalize(trace)
        sample = done.sample.model_dump()
        assert validate_sample(sample, catalog=backend, forbidden_texts=done.forbidden_texts) == []
        assert validate_sample(sample, catalog=trace.known_product_ids) == []
        messages = sample["messages"]
        submitted = [
            json.loads(c["function"]["arguments"])["report"]
            for m in messages
            for c in m.get("tool_calls") or []
            if c["function"]["name"] == "submit_report"
        ]
        assert submitted == [trace.report]  # the rejected report is gone
        assert done.dropped_calls >= 1 and done.lessons >= 1
        submit_turn = next(
            m
            for m in messages
            if any(c["function"]["name"] == "submit_report" for c in m.get("tool_calls") or [])
        )
        reflection = submit_turn["reasoning_content"]
        assert "'aftercare'" in reflection and AFTERCARE_CRITERION in reflection
        assert "supervisor" not in json.dumps(messages).lower()
        assert messages[-1] == {"role": "assistant", "content": trace.report}


def test_scripted_samples_load_with_datasets_and_render_with_a_chat_template(
    scripted_runs: Path, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    traces = _wide(scripted_runs)
    config = FilterConfig()
    samples, report = distill(build_candidates(traces, config), config)
    assert report.kept == N_TASKS and report.dropped == {} and report.lessons >= N_TASKS
    export = write_dataset(samples, tmp_path / "ds")
    # a fresh cache: datasets can serve a folder of the same file names from its shared cache, rows of an
    # earlier run included (seen here after the task generator changed); every load in these tests gets its own
    dataset = datasets.load_dataset(str(tmp_path / "ds"), cache_dir=str(tmp_path / "hf-cache"))
    assert {s: dataset[s].num_rows for s in dataset} == export.counts and sum(
        export.counts.values()
    ) == N_TASKS
    tokenizer = tokenizer_with(trl_template("qwen3"))
    known = {known for t in traces for known in t.known_product_ids}
    by_episode = {s.meta["episode_id"]: s for s in samples}
    for split in dataset:
        for row in dataset[split]:
            sample = by_episode[row["meta"]["episode_id"]]
            assert validate_sample(row, catalog=known) == []
            text = tokenizer.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
            assert '"name": "product_search"' in text and '"name": "submit_report"' in text
            calls = sum(len(m.get("tool_calls") or []) for m in sample.messages)
            assert text.count('<tool_call>\n{"name": "') == calls >= 4
            reflection = next(m["reasoning_content"] for m in sample.messages if m.get("reasoning_content"))
            assert reflection in text and "<think>" in text
            assert row["meta"]["teacher"] == "scripted-wide" and row["meta"]["split"] == split
            encoded = tokenizer.apply_chat_template(row["messages"], tools=row["tools"], tokenize=True)
            ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
            assert len(ids) > 100
