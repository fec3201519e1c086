"""The Gymnasium contract: check_env for both ids, determinism, turns with several calls, info, sharing, vector
and asyncio use, events, truncation and the revision limits."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import gymnasium as gym
import pytest
from env_helpers import plan_for, scripted_research_episode
from gymnasium.utils.env_checker import check_env, data_equivalence

from sandbox.catalog.snapshot import read_manifest
from sandbox.env import ENV_VERSION, RESEARCH_ID, SHOPPING_ID, EnvEvent


def test_check_env_research(small_snapshot: Path) -> None:
    env = gym.make(RESEARCH_ID, snapshot=str(small_snapshot))
    check_env(env.unwrapped, skip_render_check=False)
    assert env.spec.max_episode_steps is None and env.unwrapped.max_steps == 40


def test_check_env_shopping(small_snapshot: Path, web_tasks_file: Path) -> None:
    env = gym.make(SHOPPING_ID, snapshot=str(small_snapshot), tasks=str(web_tasks_file))
    check_env(env.unwrapped)
    assert env.spec.max_episode_steps is None and env.unwrapped.max_steps == 30


def _search_until_done(env: gym.Env, limit: int) -> tuple[int, bool, dict]:
    """Plan, then search until the episode ends (or ``limit`` steps): (steps taken, truncated, last info)."""
    _, info = env.reset(seed=3)
    env.step(plan_for(info))
    steps, truncated = 1, False
    while steps < limit:
        _, _, terminated, truncated, info = env.step(
            {"name": "product_search", "arguments": {"query": f"phone {steps}"}}
        )
        steps += 1
        if terminated or truncated:
            break
    return steps, truncated, info


def test_gym_make_max_steps_is_the_only_truncation(small_snapshot: Path) -> None:
    """Regression: registration set max_episode_steps=40, whose TimeLimit cut a max_steps=100 episode at 40
    steps, on a last step without reward_components or metrics."""
    env = gym.make(RESEARCH_ID, snapshot=str(small_snapshot), max_steps=45)
    steps, truncated, info = _search_until_done(env, 60)
    assert (steps, truncated) == (45, True)
    assert set(info["reward_components"]) and "effective_product_count" in info["metrics"]


def test_gym_make_adds_no_time_limit(small_snapshot: Path) -> None:
    env = gym.make(RESEARCH_ID, snapshot=str(small_snapshot), max_steps=5)
    layer, names = env, []
    while hasattr(layer, "env"):
        names.append(type(layer).__name__)
        layer = layer.env
    assert "TimeLimit" not in names
    steps, truncated, info = _search_until_done(env, 20)
    assert (steps, truncated) == (5, True)
    assert "reward_components" in info and "metrics" in info and info["accepted"] is False


def test_make_vec_default_leaves_the_chat_out_of_step_infos(small_snapshot: Path) -> None:
    envs = gym.make_vec(RESEARCH_ID, num_envs=2, snapshot=str(small_snapshot))
    try:
        _, infos = envs.reset(seed=[1, 2])
        assert "messages" in infos
        _, _, _, _, infos = envs.step(
            tuple({"name": "product_search", "arguments": {"query": q}} for q in ("phone", "shirt"))
        )
        assert "messages" not in infos
        assert [len(m) for m in infos["new_messages"]] == [3, 3]  # turn, tool result, plan feedback
    finally:
        envs.close()


def test_same_seed_same_episode(make_env) -> None:
    first = scripted_research_episode(make_env(), seed=11)
    second = scripted_research_episode(make_env(), seed=11)
    assert len(first) == len(second) == 6
    for a, b in zip(first, second, strict=True):
        assert a[0] == b[0] and a[1] == b[1] and a[2:4] == b[2:4]
        assert data_equivalence(a[4], b[4], exact=True)
    assert first[-1][2] is True and first[-1][1] > 0
    other = scripted_research_episode(make_env(), seed=12)
    assert other[0][4]["task"] != first[0][4]["task"]


def test_reset_info_and_opening_chat(make_env, small_snapshot: Path) -> None:
    env = make_env()
    observation, info = env.reset(seed=1)
    assert info["catalog_snapshot"] == read_manifest(small_snapshot).snapshot_id
    assert info["env_version"] == ENV_VERSION and info["cache_namespace"] is None
    assert [t["function"]["name"] for t in info["tools"]] == [
        "product_search",
        "visit_product",
        "calculate",
        "submit_report",
    ]
    assert info["tool_access"]["submit_report"] == "write"
    system, user = info["messages"]
    assert system["role"] == "system" and "[P:<product_id>]" in system["content"]
    assert user == {"role": "user", "content": observation} and info["observation"] == observation
    assert info["task"]["query"] in observation and "Requirements:" in observation
    assert info["phase"] == "plan" and info["step"] == 0


def test_explicit_task_and_task_id(make_env, web_tasks_file: Path) -> None:
    env = make_env(task_mode="shopping", tasks=str(web_tasks_file))
    _, info = env.reset(options={"task_id": "sb-web-0001"})
    assert (
        info["task"]["task_id"] == "sb-web-0001"
        and info["tools"][-1]["function"]["name"] == "recommend_products"
    )
    research = make_env()
    _, generated = research.reset(seed=5)
    _, again = research.reset(options={"task": generated["task"]})
    assert again["task"] == generated["task"]


def test_one_turn_many_calls(make_env) -> None:
    env = make_env()
    _, info = env.reset(seed=2)
    action = {
        "role": "assistant",
        "content": plan_for(info),
        "tool_calls": [
            {
                "id": "s",
                "type": "function",
                "function": {"name": "product_search", "arguments": '{"query": "cable"}'},
            },
            {
                "id": "c",
                "type": "function",
                "function": {"name": "calculate", "arguments": '{"expression": "2*21"}'},
            },
            {"id": "x", "type": "function", "function": {"name": "teleport", "arguments": "{}"}},
        ],
    }
    observation, reward, terminated, truncated, info = env.step(action)
    assert (reward, terminated, truncated) == (0.0, False, False)
    new = info["messages"][3:]
    assert [m["role"] for m in new] == ["tool", "tool", "tool", "user"]
    assert [m["tool_call_id"] for m in new[:3]] == ["s", "c", "x"]
    assert json.loads(new[1]["content"])["result"] == 42
    assert "unknown tool 'teleport'" in json.loads(new[2]["content"])["error"]
    assert new[3]["name"] == "supervisor" and new[3]["content"].startswith("[supervisor]")
    assert "Plan accepted" in new[3]["content"] and "tool call #3" in new[3]["content"]
    assert info["invalid_actions"] == 1 and info["malformed_actions"] == 1
    assert info["step_errors"] == [
        {"kind": "unknown_tool", "tool": "teleport", "error": info["step_errors"][0]["error"]}
    ]
    assert info["tool_counts"] == {"product_search": 1, "calculate": 1, "teleport": 1}
    assert "[tool calculate c]" in observation and observation.endswith(new[3]["content"])


def test_tool_call_before_plan_is_allowed_with_critique(make_env) -> None:
    env = make_env(plan_revisions=0)
    env.reset(seed=3)
    observation, _, _, _, info = env.step({"name": "product_search", "arguments": {"query": "phone"}})
    assert '"hits"' in observation
    assert "[plan_present]" in observation and "plan revision limit is reached" in observation
    assert info["phase"] == "research" and info["supervisor"]["plan_accepted"] is False


def test_text_turn_in_research_gets_a_nudge(make_env) -> None:
    env = make_env()
    _, info = env.reset(seed=3)
    env.step(plan_for(info))
    observation, _, _, _, info = env.step("I think the first phone is best.")
    assert observation.startswith("[environment] no tool was called") and "submit_report" in observation
    assert info["text_only_turns"] == 1 and info["invalid_actions"] == 0


def test_every_env_shares_one_backend(make_env) -> None:
    assert make_env().backend is make_env().backend


def test_events_reach_the_callback_with_timings(make_env) -> None:
    seen: list[EnvEvent] = []
    env = make_env(on_event=seen.append)
    steps = scripted_research_episode(env, seed=4)
    kinds = [e.kind for e in seen]
    assert kinds[0] == "reset" and kinds[-1] == "episode_end"
    assert {"assistant", "tool_result", "supervisor"} <= set(kinds)
    assert all(
        e.timing_ms is not None and e.timing_ms >= 0 for e in seen if e.kind in ("tool_result", "supervisor")
    )
    last_info = steps[-1][4]
    assert last_info["events"][-1]["kind"] == "episode_end"
    assert all("timing_ms" not in e for e in last_info["events"])
    assert seen[-1].data["components"] == last_info["reward_components"]


def test_truncation_gives_the_terminal_reward(make_env) -> None:
    env = make_env(max_steps=2)
    _, info = env.reset(seed=6)
    env.step(plan_for(info))
    _, reward, terminated, truncated, info = env.step(
        {"name": "calculate", "arguments": {"expression": "1+1"}}
    )
    assert truncated and not terminated
    assert set(info["reward_components"]) == {
        "accepted",
        "effective_products",
        "grounding",
        "constraints",
        "format",
    }
    # Regression: the format component alone earned 0.1; an episode without an answer scores 0.
    assert reward == 0.0 and info["reward_components"]["format"] == 0.0
    assert info["metrics"]["format_validity"] == 1.0
    observation, reward, terminated, truncated, _ = env.step("more")
    assert "episode is over" in observation and reward == 0.0


def test_report_revision_limit_ends_the_episode(make_env) -> None:
    env = make_env(report_revisions=1)
    _, info = env.reset(seed=8)
    env.step(plan_for(info))
    bad = {"name": "submit_report", "arguments": {"report": "Buy [P:bestbuy:0] now."}}
    observation, _, terminated, _, info = env.step(bad)
    assert not terminated and '"revisions_left":1' in observation
    observation, reward, terminated, _, info = env.step(bad)
    assert terminated and info["accepted"] is False and "no revisions are left" in observation
    assert info["reward_components"]["accepted"] == 0.0 and info["supervisor"]["answer_attempts"] == 2


def test_accepted_report_ends_the_episode(make_env) -> None:
    steps = scripted_research_episode(make_env(), seed=0)
    observation, reward, terminated, truncated, info = steps[-1]
    assert terminated and not truncated and info["accepted"] is True
    assert '"status":"accepted"' in observation and info["phase"] == "done"
    assert info["metrics"]["effective_product_count"] == 3 and info["metrics"]["grounding_accuracy"] == 1.0
    assert reward == pytest.approx(
        sum(info["reward_weights"][k] * v for k, v in info["reward_components"].items())
    )


def test_reward_configuration(make_env) -> None:
    env = make_env(reward={"research_weights": {"accepted": 1.0}, "epc_target": 3})
    steps = scripted_research_episode(env, seed=0)
    assert steps[-1][1] == 1.0 and steps[-1][4]["reward_components"]["effective_products"] == 1.0
    with pytest.raises(ValueError, match="unknown reward components"):
        make_env(reward={"research_weights": {"speed": 1.0}})


def test_async_api(make_env) -> None:
    env = make_env()

    async def run() -> tuple:
        _, info = await env.areset(seed=9)
        return await env.astep(plan_for(info))

    observation, _, _, _, info = asyncio.run(run())
    assert "Plan accepted" in observation and info["phase"] == "research"


def test_async_vector_env(small_snapshot: Path) -> None:
    envs = gym.make_vec(
        RESEARCH_ID,
        num_envs=2,
        vectorization_mode="async",
        vector_kwargs={"shared_memory": False},
        snapshot=str(small_snapshot),
    )
    try:
        observations, infos = envs.reset(seed=[1, 2])
        assert len(observations) == 2 and all(isinstance(o, str) for o in observations)
        assert observations[0] != observations[1]
        actions = tuple({"name": "product_search", "arguments": {"query": q}} for q in ("phone", "shirt"))
        observations, rewards, terminated, truncated, infos = envs.step(actions)
        assert all('"hits"' in o for o in observations)
        assert list(terminated) == [False, False] and list(infos["tool_calls"]) == [1, 1]
    finally:
        envs.close()


def test_web_tools_are_offered_only_with_a_web_tool(make_env, shared_data: Path, tmp_path: Path) -> None:
    from sandbox.web import WebConfig, build_corpus

    corpus = tmp_path / "corpus"
    build_corpus(shared_data / "web_pages", corpus)
    config = WebConfig(
        provider="corpus", corpus_dir=corpus, cache_path=tmp_path / "web.sqlite", namespace="envtest"
    )
    env = make_env(web=config.model_dump(mode="json"))
    _, info = env.reset(seed=1)
    names = [t["function"]["name"] for t in info["tools"]]
    assert names[:4] == ["product_search", "visit_product", "web_search", "web_visit"]
    assert info["cache_namespace"] == "envtest"
    env.step(plan_for(info))
    observation, _, _, _, info = env.step({"name": "web_search", "arguments": {"queries": ["amazon"]}})
    assert "UNTRUSTED PAGE TEXT" in observation and info["invalid_actions"] == 0
    urls = re.findall(r"url: (\S+)", observation)
    assert urls
    url = urls[0]
    report = f"See [W:{url}] and [W:https://not-seen.example/]."
    observation, _, _, _, _ = env.step({"name": "submit_report", "arguments": {"report": report}})
    assert "[web_citations_seen]" in observation and "not-seen.example" in observation
    assert f"[W:{url}] never appeared" not in observation
