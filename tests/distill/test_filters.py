"""Filters and ensemble selection: each drop reason triggers on a hand-made trajectory, nothing else is dropped,
and the best-of-teachers rule keeps the top trajectory per task with its teacher recorded."""

from __future__ import annotations

import json

from harness.distill import DropReason, FilterConfig, build_candidates, distill
from sandbox.recorder import EpisodeTrace, read_traces


def _variant(trace: EpisodeTrace, episode_id: str, **update) -> EpisodeTrace:
    return trace.model_copy(deep=True, update={"episode_id": episode_id, **update})


def _handmade(recorded) -> tuple[list[EpisodeTrace], dict[str, str | None]]:
    path, _ = recorded
    traces = read_traces(path)
    good, other = traces[0], traces[2]
    few = _variant(good, "few-turns")
    few.steps = [
        s
        for s in few.steps
        if s.assistant.get("tool_calls", [{}])[0].get("function", {}).get("name") != "product_search"
    ]
    bad_call = _variant(good, "bad-call")
    visit = bad_call.steps[3].assistant["tool_calls"][0]["function"]
    visit["arguments"] = json.dumps({"product_ids": "not a list"})
    low_grounding = _variant(good, "low-grounding", metrics={**good.metrics, "grounding_accuracy": 0.25})
    low_score = _variant(good, "low-score", reward=0.2)
    duplicate = _variant(good, "duplicate", reward=(good.reward or 0) - 0.01)
    expected = {
        good.episode_id: None,
        other.episode_id: None,
        "rejected": "not_accepted",
        "few-turns": "too_few_tool_turns",
        "bad-call": "invalid_calls",
        "low-grounding": "low_grounding",
        "low-score": "low_score",
        "duplicate": "duplicate",
    }
    rejected = _variant(good, "rejected", accepted=False)
    return [duplicate, good, other, rejected, few, bad_call, low_grounding, low_score], expected


def test_each_reason_triggers_and_nothing_else_is_dropped(recorded) -> None:
    traces, expected = _handmade(recorded)
    config = FilterConfig(min_tool_turns=2, min_grounding=0.5, min_score=0.5)
    samples, report = distill(build_candidates(traces, config), config)
    got = {d.episode_id: (d.reason.value if d.reason else None) for d in report.decisions}
    assert got == expected
    assert all(d.detail for d in report.decisions if not d.kept)
    dup = next(d for d in report.decisions if d.episode_id == "duplicate")
    assert traces[1].episode_id in dup.detail  # the better-scored copy is the one kept
    assert report.kept == 2 and report.dropped == {r: 1 for r in expected.values() if r}
    assert {s.meta["episode_id"] for s in samples} == {traces[1].episode_id, traces[2].episode_id}
    low = next(d for d in report.decisions if d.episode_id == "low-grounding")
    assert "0.250 < 0.5" in low.detail


def test_switching_checks_off_keeps_them(recorded) -> None:
    traces, _ = _handmade(recorded)
    config = FilterConfig(min_tool_turns=None, min_grounding=None, min_score=None, dedupe=False)
    _, report = distill(build_candidates(traces, config), config)
    reasons = {d.episode_id: d.reason for d in report.decisions if not d.kept}
    assert reasons == {"rejected": DropReason.not_accepted, "bad-call": DropReason.invalid_calls}


def test_best_of_teachers_keeps_the_top_trajectory_per_task(recorded) -> None:
    path, _ = recorded
    base = read_traces(path)[0]
    teachers = []
    for name, reward in (("gpt-t0.2", 0.7), ("qwen-t0.7", 0.9), ("llama-t1.0", 0.8)):
        variant = _variant(base, f"ep-{name}", reward=reward, policy={"teacher": name})
        variant.final_answer = {**base.final_answer, "report": base.report + f"\n\n({name})"}
        teachers.append(variant)
    config = FilterConfig()
    candidates = build_candidates(teachers, config)
    samples, report = distill(candidates, config, "best")
    assert [s.meta["teacher"] for s in samples] == ["qwen-t0.7"] and samples[0].meta["score"] == 0.9
    dropped = [d for d in report.decisions if not d.kept]
    assert {d.reason for d in dropped} == {DropReason.not_best_of_teachers}
    assert all("qwen-t0.7" in d.detail for d in dropped)
    samples, report = distill(candidates, config, "all")
    assert sorted(s.meta["teacher"] for s in samples) == ["gpt-t0.2", "llama-t1.0", "qwen-t0.7"]
    assert report.kept_by_teacher == {"gpt-t0.2": 1, "llama-t1.0": 1, "qwen-t0.7": 1}
