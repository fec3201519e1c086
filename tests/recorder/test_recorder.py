"""The episode recorder: one flushed JSON line per episode with every event and role, the steps that show
which attempts were rejected, policy metadata and usage; the typed reader and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest

import sandbox.env  # noqa: F401  (registers the env ids)
from sandbox.env import RESEARCH_ID, ProductResearchEnv
from sandbox.recorder import SCHEMA_VERSION, EpisodeRecorder, TraceFormatError, parse_trace, read_traces


def test_one_line_per_episode_with_roles_and_timings(recorded) -> None:
    path, facts = recorded
    lines = path.read_text().splitlines()
    assert len(lines) == len(facts)
    traces = read_traces(path)
    assert [t.episode_id for t in traces] == [f"ep-{s}" for s in (0, 1, 2, 3)]
    assert [f["accepted"] for f in facts] == [True, False, True, True]
    for trace, fact in zip(traces, facts, strict=True):
        assert trace.schema_version == SCHEMA_VERSION and trace.finished is fact["accepted"]
        assert trace.catalog_snapshot.startswith("cat-") and trace.env_version and trace.prgym_version
        assert trace.policy == {"teacher": "scripted", "models": {"agent": "script"}}
        assert trace.teacher == "scripted"
        roles = {e.role for e in trace.events}
        assert {"user_agent", "research_agent", "tool", "supervisor"} <= roles
        assert ("environment" in roles) is trace.finished  # the episode_end summary
        assert [e.index for e in trace.events] == list(range(len(trace.events)))
        assert all(e.timing_ms is not None for e in trace.events if e.kind != "reset")
        assert trace.events[0].kind == "reset"
        if trace.finished:
            assert trace.events[-1].kind == "episode_end" and trace.reward == trace.events[-1].data["reward"]
        else:
            assert trace.reward is None and not trace.accepted
        assert len(trace.steps) == 6 and trace.tools and trace.opening[0]["role"] == "system"
        assert trace.steps[0].usage == {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        assert trace.steps[1].usage is None and trace.usage["total_tokens"] == 110


def test_steps_show_rejected_attempts_and_their_critiques(recorded) -> None:
    path, facts = recorded
    trace = read_traces(path)[0]
    plan_verdict = trace.steps[0].verdicts[0]
    assert plan_verdict["kind"] == "plan" and not plan_verdict["passed"]
    assert {c["check"] for c in plan_verdict["critiques"]} == {"plan_covers_constraints"}
    assert trace.steps[0].feedback[0]["name"] == "supervisor"
    assert trace.steps[1].verdicts[0]["passed"]
    rejected = trace.steps[4]
    answer = [v for v in rejected.verdicts if v["kind"] == "answer"][0]
    assert not answer["passed"]
    grounded = [c for c in answer["critiques"] if c["check"] == "claims_grounded"]
    assert facts[0]["catalog_price"] in grounded[0]["message"]
    assert rejected.tool_messages[0]["tool_call_id"] == rejected.assistant["tool_calls"][0]["id"]
    assert trace.accepted and trace.final_answer["kind"] == "report"
    assert facts[0]["first_id"] in trace.known_product_ids
    assert set(trace.metrics["cited_ids"]) <= set(trace.known_product_ids)


def test_reader_names_the_line_of_an_unknown_version(recorded, tmp_path: Path) -> None:
    path, _ = recorded
    first, second = path.read_text().splitlines()[:2]
    bad = json.loads(second)
    bad["schema_version"] = 99
    target = tmp_path / "traces.jsonl"
    target.write_text(first + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(TraceFormatError, match=r"traces.jsonl:2: unknown schema_version 99") as info:
        read_traces(target)
    assert info.value.line == 2
    target.write_text(first + "\n\n{not json\n")
    with pytest.raises(TraceFormatError, match=r":3: not valid JSON"):
        read_traces(target)
    broken = json.loads(first)
    del broken["catalog_snapshot"]
    with pytest.raises(TraceFormatError, match=r"field catalog_snapshot: Field required"):
        parse_trace(json.dumps(broken))
    with pytest.raises(FileNotFoundError, match="no such traces file"):
        read_traces(tmp_path / "missing")


def test_abandoned_episode_is_written_unfinished(small_snapshot: Path, tmp_path: Path) -> None:
    path = tmp_path / "runs" / "traces.jsonl"
    env = EpisodeRecorder(ProductResearchEnv(small_snapshot), path)
    env.reset(seed=5, options={"episode_id": "a"})
    env.step("Plan: search and compare products carefully before I recommend one of them.")
    env.reset(seed=6, options={"episode_id": "b"})
    env.close()
    traces = read_traces(tmp_path / "runs")
    assert [(t.episode_id, t.finished, len(t.steps)) for t in traces] == [("a", False, 1), ("b", False, 0)]
    assert traces[0].reward is None and traces[0].seed == 5


def test_recorder_over_gym_make_records_truncation(small_snapshot: Path, tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    env = EpisodeRecorder(gym.make(RESEARCH_ID, snapshot=str(small_snapshot), max_steps=2), path)
    env.reset(seed=1)
    env.step("Plan: search the catalog with filters and compare three products before deciding.")
    *_, terminated, truncated, _ = env.step({"name": "calculate", "arguments": {"expression": "1 + 2"}})
    assert truncated and not terminated
    (trace,) = read_traces(path)
    assert trace.truncated and not trace.accepted and trace.finished and trace.reward is not None
    assert trace.steps[-1].tool_messages[0]["name"] == "calculate"


def test_each_message_is_stored_once(recorded) -> None:
    """Regression: the recorder got every event twice (a patched on_event and a diff of info['messages']), so
    each tool result and assistant turn was stored in the steps and again in the events."""
    path, _ = recorded
    line = path.read_text().splitlines()[0]
    trace = read_traces(path)[0]
    for step in trace.steps:
        for message in step.tool_messages:
            assert line.count(json.dumps(message["content"], ensure_ascii=False)[1:-1][:200]) == 1
    assert all(e.content is None and e.tool_calls is None for e in trace.events)
    assert all("critiques" not in (e.verdict or {}) for e in trace.events)
    kinds = [e.kind for e in trace.events]
    assert kinds.count("assistant") == len(trace.steps)


def test_recorder_subscribes_and_needs_no_chat_copies(small_snapshot: Path, tmp_path: Path) -> None:
    inner = ProductResearchEnv(small_snapshot, info_messages=False)
    env = EpisodeRecorder(inner, tmp_path / "traces.jsonl")
    assert len(inner._subscribers) == 1
    env.reset(seed=2, options={"episode_id": "x"})
    *_, info = env.step("Plan: search the catalog with filters and compare three products before deciding.")
    assert "messages" not in info
    *_, info = env.step({"name": "product_search", "arguments": {"query": "phone"}})
    hits = json.loads(info["new_messages"][1]["content"])["hits"]
    env.close()
    assert inner._subscribers == []
    (trace,) = read_traces(tmp_path / "traces.jsonl")
    assert [len(s.tool_messages) for s in trace.steps] == [0, 1]
    assert {h["id"] for h in hits} <= set(trace.known_product_ids)
