"""The RACE-style judge against the scripted OpenAI-compatible server: the formula on hand-computed examples,
strict parsing with retries then a failure with a reason, and cache hits on a rerun."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.judge import Criteria, JudgeCache, RaceJudge, criterion_ids, judge_runs, parse_scores, race_score
from harness.llm import LLMClient, LLMConfig
from harness.testing.openai_server import Reply, ScriptedOpenAIServer
from sandbox.recorder import read_traces

CRITERIA = Criteria.model_validate(
    {
        "dimensions": [
            {
                "name": "comprehensiveness",
                "weight": 0.6,
                "criteria": [{"text": "a", "weight": 1}, {"text": "b", "weight": 3}],
            },
            {"name": "readability", "weight": 0.4, "criteria": [{"text": "c", "weight": 1}]},
        ]
    }
)


def test_formula_on_hand_computed_examples() -> None:
    score = race_score(
        CRITERIA,
        {"comprehensiveness": [8, 4], "readability": [10]},
        {"comprehensiveness": [4, 8], "readability": [5]},
    )
    # target: comp (8*1 + 4*3)/4 = 5, read 10 -> S_t = 0.6*5 + 0.4*10 = 7
    # reference: comp (4 + 24)/4 = 7, read 5 -> S_r = 0.6*7 + 0.4*5 = 6.2
    assert score.target == pytest.approx(7.0) and score.reference == pytest.approx(6.2)
    assert score.relative == pytest.approx(7 / 13.2)
    assert score.per_dimension == pytest.approx({"comprehensiveness": 5 / 12, "readability": 10 / 15})
    same = race_score(
        CRITERIA,
        {"comprehensiveness": [3, 3], "readability": [3]},
        {"comprehensiveness": [3, 3], "readability": [3]},
    )
    assert same.relative == 0.5
    zero = race_score(
        CRITERIA,
        {"comprehensiveness": [0, 0], "readability": [0]},
        {"comprehensiveness": [0, 0], "readability": [0]},
    )
    assert zero.relative == 0.5


def _scores_reply(criteria: Criteria, target: float, reference: float) -> str:
    rows = [{"id": cid, "target": target, "reference": reference} for cid, _, _ in criterion_ids(criteria)]
    return json.dumps({"scores": rows})


def test_parse_scores_is_strict() -> None:
    good = _scores_reply(CRITERIA, 7, 5)
    target, reference = parse_scores(f"```json\n{good}\n```", CRITERIA)
    assert target == {"comprehensiveness": [7, 7], "readability": [7]} and reference["readability"] == [5]
    rows = json.loads(good)["scores"]
    for bad, message in (
        ("not json", "not one JSON object"),
        (json.dumps({"scores": rows[:-1]}), "missing \\['readability.1'\\]"),
        (json.dumps({"scores": rows + [rows[0]]}), "repeated \\['comprehensiveness.1'\\]"),
        (json.dumps({"scores": [{**rows[0], "target": 11}, *rows[1:]]}), "less than or equal to 10"),
        (json.dumps({"scores": rows, "extra": 1}), "extra"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_scores(bad, CRITERIA)


def _client(server: ScriptedOpenAIServer) -> LLMClient:
    return LLMClient(LLMConfig(base_url=server.base_url, model="judge-model", max_retries=0, temperature=0))


def test_judge_runs_retries_fails_with_reason_and_caches(recorded, tmp_path: Path) -> None:
    path, _ = recorded
    traces = [t for t in read_traces(path) if t.accepted]
    target, reference = (
        traces[0],
        traces[0].model_copy(update={"episode_id": "ref", "policy": {"teacher": "ref"}}),
    )
    other = traces[1]
    criteria = Criteria.model_validate(
        {
            "dimensions": [
                {
                    "name": d["name"],
                    "weight": d["weight"],
                    "criteria": [{"text": c["text"], "weight": c.get("weight", 1)} for c in d["criteria"]],
                }
                for d in target.task["rubric"]["dimensions"]
            ]
        }
    )
    cache = JudgeCache(tmp_path / "cache.sqlite")
    replies = [
        Reply.text("I think the target is better."),  # malformed, retried
        Reply.text(_scores_reply(criteria, 8, 4)),  # valid: target 8 vs reference 4 everywhere
    ]
    with ScriptedOpenAIServer(replies) as server:

        async def run(targets):
            async with _client(server) as client:
                return await judge_runs(RaceJudge(client, cache, max_attempts=2), targets, [reference])

        (first,) = asyncio.run(run([target]))
        assert first.status == "ok" and first.criteria_source == "rubric" and first.attempts == 2
        assert first.score.relative == pytest.approx(8 / 12)
        assert all(v == pytest.approx(8 / 12) for v in first.score.per_dimension.values())
        retry_body = server.requests[1].body["messages"]
        assert retry_body[-1]["role"] == "user" and "could not be used" in retry_body[-1]["content"]
        assert len(server.requests) == 2
        # rerun: served from the cache, no request
        (again,) = asyncio.run(run([target]))
        assert again.status == "ok" and again.cache_hits == 1 and again.attempts == 0
        assert again.score == first.score and len(server.requests) == 2 and cache.hits >= 1
        # a target whose task has no reference, and malformed replies until the attempts run out
        other_ref = other.model_copy(update={"episode_id": "ref2"})
        for _ in range(2):
            server.push(Reply.text('{"scores": []}'))

        async def run_other():
            async with _client(server) as client:
                return await judge_runs(
                    RaceJudge(client, cache, max_attempts=2), [other, target], [other_ref]
                )

        failed, missing = asyncio.run(run_other())
        assert failed.status == "failed" and failed.reason == "malformed_scores" and failed.attempts == 2
        assert "at least 1 item" in failed.error
        assert missing.status == "failed" and missing.reason == "no_reference"
        assert len(server.requests) == 4
    cache.close()
    assert len(JudgeCache(tmp_path / "cache.sqlite")) == 1


def test_a_judge_reply_cut_at_max_tokens_says_so(recorded, tmp_path: Path) -> None:
    path, _ = recorded
    target = next(t for t in read_traces(path) if t.accepted)
    reference = target.model_copy(update={"episode_id": "ref", "policy": {"teacher": "ref"}})
    replies = [Reply.text('{"scores": [{"criterion": 1, "tar', finish_reason="length")] * 2
    with ScriptedOpenAIServer(replies) as server:

        async def run():
            async with _client(server) as client:
                judge = RaceJudge(client, JudgeCache(tmp_path / "c.sqlite"), max_attempts=2)
                return await judge_runs(judge, [target], [reference])

        (failed,) = asyncio.run(run())
    assert failed.status == "failed" and failed.error.startswith("truncated at max_tokens: ")
