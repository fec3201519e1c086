"""The per-call env API: ``call_tool``, ``finish``, the plan modes and compact tool results."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
from env_helpers import plan_for, scripted_research_episode, write_report
from gymnasium.error import ResetNeeded

from sandbox.env import RESEARCH_ID, EpisodeScore, ToolStepResult
from sandbox.env.per_call import PLAN_TOOL


def _search_args(task: dict) -> dict:
    constraints = task["constraints"]
    filters = {}
    if constraints.get("budget_max"):
        filters["price_max"] = float(constraints["budget_max"])
    if constraints.get("category"):
        filters["category"] = constraints["category"]
    return {"query": " ".join(constraints.get("must_have") or []), "filters": filters}


def _research_by_calls(env, info: dict) -> list[ToolStepResult]:
    """Search, visit the top three and submit a grounded report, one call per step."""
    results = [env.call_tool("product_search", _search_args(info["task"]))]
    hits = json.loads(results[-1].observation.split("\n\n")[0])["hits"]
    ids = [h["id"] for h in hits[:3]]
    results.append(env.call_tool("visit_product", json.dumps({"product_ids": ids})))
    records = json.loads(results[-1].observation.split("\n\n")[0])["products"]
    results.append(env.call_tool("submit_report", {"report": write_report(info["task"], records)}))
    return results


def test_call_tool_is_one_step_with_the_tool_text(make_env) -> None:
    env = make_env()
    _, info = env.reset(seed=4)
    env.step(plan_for(info))
    result = env.call_tool("calculate", {"expression": "2 * 21"})
    assert isinstance(result, ToolStepResult)
    assert json.loads(result.observation) == {"expression": "2 * 21", "result": 42}
    assert (result.reward, result.terminated, result.truncated) == (0.0, False, False)
    assert result.info["step"] == 2 and result.info["tool_counts"] == {"calculate": 1}
    as_text = env.call_tool("calculate", '{"expression": "1 + 1"}')
    assert json.loads(as_text.observation)["result"] == 2
    last = as_text.info["messages"][-1]
    assert last["role"] == "tool" and last["content"] == as_text.observation


def test_bad_calls_are_observations(make_env) -> None:
    env = make_env(plan_mode="none")
    env.reset(seed=4)
    unknown = env.call_tool("buy_now", {"id": 1})
    assert json.loads(unknown.observation.split("\n\n")[0])["error_kind"] == "unknown_tool"
    bad_json = env.call_tool("calculate", '{"expression": ')
    assert json.loads(bad_json.observation.split("\n\n")[0])["error_kind"] == "bad_json"
    wrong = env.call_tool("product_search", {"query": 3, "page": "x"})
    assert json.loads(wrong.observation.split("\n\n")[0])["error_kind"] == "invalid_arguments"
    assert wrong.info["error_counts"] == {"unknown_tool": 1, "bad_json": 1, "invalid_arguments": 1}
    with pytest.raises(ResetNeeded):
        make_env().call_tool("calculate", {"expression": "1"})


def test_finish_scores_an_abandoned_episode_once(make_env) -> None:
    events = []
    env = make_env(on_event=events.append)
    _, info = env.reset(seed=5)
    env.step(plan_for(info))
    env.call_tool("product_search", _search_args(info["task"]))
    score = env.finish()
    assert isinstance(score, EpisodeScore) and score.truncated and not score.accepted
    assert set(score.components) == {"accepted", "effective_products", "grounding", "constraints", "format"}
    assert score.reward == pytest.approx(
        sum(score.components[k] * score.weights[k] for k in score.components)
    )
    ends = [e for e in events if e.kind == "episode_end"]
    assert len(ends) == 1 and ends[0].data["reward"] == score.reward and ends[0].data["truncated"] is True
    assert env.finish() == score and env.finish(truncated=False) == score
    assert len([e for e in events if e.kind == "episode_end"]) == 1
    after = env.call_tool("calculate", {"expression": "1"})
    assert "episode is over" in after.observation and after.reward == 0.0


def test_finish_after_a_terminal_step_returns_that_score(make_env) -> None:
    env = make_env()
    steps = scripted_research_episode(env, seed=11)
    _, reward, terminated, _, info = steps[-1]
    assert terminated and reward > 0
    score = env.finish()
    assert score.reward == reward and not score.truncated and score.accepted == info["accepted"]
    assert score.components == info["reward_components"] and score.metrics == info["metrics"]


def test_plan_tool_mode_keeps_the_plan_phase_without_critiquing_every_call(make_env) -> None:
    env = make_env(plan_mode="tool")
    _, info = env.reset(seed=11)
    assert [t["function"]["name"] for t in info["tools"]][0] == PLAN_TOOL
    assert f"call {PLAN_TOOL}" in info["messages"][0]["content"]
    first = env.call_tool("calculate", {"expression": "1 + 2"})
    second = env.call_tool("calculate", {"expression": "2 + 3"})
    assert "no plan yet" in first.observation and "[supervisor] Plan" not in first.observation
    assert second.observation == '{"expression":"2 + 3","result":5}'
    assert first.info["phase"] == "plan" and first.info["supervisor"]["plan_attempts"] == 0
    short = env.call_tool(PLAN_TOOL, {"plan": "search"})
    receipt = json.loads(short.observation.split("\n\n")[0])
    assert (
        receipt["verdict"]["status"] == "rejected" and "plan_present" in receipt["verdict"]["failed_checks"]
    )
    assert "[supervisor] Plan rejected" in short.observation
    good = env.call_tool(PLAN_TOOL, {"plan": plan_for(info)})
    assert json.loads(good.observation.split("\n\n")[0])["verdict"]["status"] == "accepted"
    assert good.info["phase"] == "research" and good.info["supervisor"]["plan_accepted"] is True
    again = env.call_tool(PLAN_TOOL, {"plan": plan_for(info)})
    assert json.loads(again.observation)["error_kind"] == "tool_error"
    results = _research_by_calls(env, info)
    assert all("[supervisor] Plan" not in r.observation for r in results)
    assert results[-1].terminated and results[-1].reward > 0
    assert env.finish().reward == results[-1].reward


def test_plan_turn_mode_is_unchanged_through_call_tool(make_env) -> None:
    env = make_env()
    env.reset(seed=11)
    result = env.call_tool("calculate", {"expression": "1 + 2"})
    assert "[supervisor] Plan rejected" in result.observation
    assert result.info["supervisor"]["plan_attempts"] == 1


def test_plan_none_mode_starts_in_research(small_snapshot: Path) -> None:
    env = gym.make(RESEARCH_ID, snapshot=str(small_snapshot), plan_mode="none").unwrapped
    _, info = env.reset(seed=11)
    assert info["phase"] == "research" and "PLAN" not in info["messages"][0]["content"]
    assert PLAN_TOOL not in [t["function"]["name"] for t in info["tools"]]
    results = _research_by_calls(env, info)
    # no plan critique or reminder (product text may say "Plant": match the supervisor's words, not "Plan")
    assert all("[supervisor] Plan" not in r.observation and "no plan" not in r.observation for r in results)
    assert results[-1].terminated and results[-1].info["supervisor"]["plan_attempts"] == 0
    text = env.reset(seed=1) and env.step("I will now look around the catalog for good options")
    assert "no tool was called" in text[0]


def test_plan_mode_tool_text_turn_points_at_submit_plan(make_env) -> None:
    env = make_env(plan_mode="tool")
    env.reset(seed=2)
    observation, *_ = env.step("Plan: search, compare three, check the budget and decide on the best one.")
    assert f"Submit your plan with {PLAN_TOOL}" in observation


def test_field_selection_and_length_cap(make_env) -> None:
    full = make_env(plan_mode="none")
    _, info = full.reset(seed=6)
    args = {"query": "", "filters": {"category": info["task"]["constraints"]["category"]}}
    full_hits = json.loads(full.call_tool("product_search", args).observation.split("\n\n")[0])["hits"]
    assert len(full_hits) == 10 and "snippet" in full_hits[0]

    compact = make_env(plan_mode="none", tool_result_fields={"product_search": ["title", "price"]})
    compact.reset(seed=6)
    hits = json.loads(compact.call_tool("product_search", args).observation.split("\n\n")[0])["hits"]
    assert [h["id"] for h in hits] == [h["id"] for h in full_hits]
    assert all(set(h) <= {"id", "title", "price"} for h in hits)

    capped = make_env(plan_mode="none", max_tool_result_chars=900)
    capped.reset(seed=6)
    text = capped.call_tool("product_search", args).observation.split("\n\n")[0]
    body = json.loads(text)
    assert len(text) <= 900 and 0 < len(body["hits"]) < 10 and "left out" in body["cut"]
    assert capped._ctx.seen_product_ids >= {h["id"] for h in full_hits}  # the supervisor saw the full page
    calc = capped.call_tool("calculate", {"expression": "1 + 1"})
    assert calc.observation == '{"expression":"1 + 1","result":2}'


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"plan_mode": "later"}, "plan_mode must be one of"),
        ({"max_tool_result_chars": 10}, "max_tool_result_chars must be at least"),
        ({"tool_result_fields": {"calculate": ["result"]}}, "works for product_search"),
        ({"tool_result_fields": {"product_search": ["colour"]}}, "unknown field"),
    ],
)
def test_bad_per_call_options(make_env, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_env(**kwargs)


def test_call_tool_is_deterministic(make_env) -> None:
    def run() -> list[tuple]:
        env = make_env(
            plan_mode="tool",
            max_tool_result_chars=3000,
            tool_result_fields={"visit_product": ["title", "brand", "price", "currency", "rating"]},
        )
        _, info = env.reset(seed=9)
        out = [env.call_tool(PLAN_TOOL, {"plan": plan_for(info)})]
        out += _research_by_calls(env, info)
        return [(r.observation, r.reward, r.terminated) for r in out]

    assert run() == run()
