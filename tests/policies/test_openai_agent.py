"""The OpenAI research agent end to end: real ``openai`` client, real HTTP, the scripted server, the real env."""

from __future__ import annotations

import asyncio
import json

from policy_helpers import llm_config

from harness.llm import LLMClient
from harness.policies.context import TrimStrategy
from harness.policies.openai_agent import ResearchAgentPolicy
from harness.policies.scripted import ScriptedPolicy
from harness.rollout import run_episode
from harness.testing.openai_server import RecordedRequest, Reply, ScriptedToolCall
from sandbox.env import ProductResearchEnv


def brain_responder(brain: ScriptedPolicy):
    """A model stand-in that reads each request's messages like a model would and answers with the scripted
    agent's next move; on its second turn it first sends a malformed call next to a valid parallel one."""
    state = {"malformed_sent": False}

    def respond(request: RecordedRequest) -> Reply:
        body = request.body
        turns = sum(1 for m in body["messages"] if m.get("role") == "assistant")
        if turns == 1 and not state["malformed_sent"]:
            state["malformed_sent"] = True
            return Reply.tools(
                ("product_search", '{"query": "tv", "filters": '), ("calculate", {"expression": "2+2"})
            )
        action = brain.next_action(body["messages"], body.get("tools") or [])
        calls = [
            ScriptedToolCall(name=c["function"]["name"], arguments=c["function"]["arguments"], id=c["id"])
            for c in action.get("tool_calls") or []
        ]
        return Reply(content=action.get("content"), tool_calls=calls)

    return respond


def test_full_episode_with_parallel_and_malformed_calls(small_snapshot, research_tasks, llm_server) -> None:
    llm_server.responder = brain_responder(ScriptedPolicy())
    envs: list[ProductResearchEnv] = []

    def make_env() -> ProductResearchEnv:
        envs.append(ProductResearchEnv(small_snapshot, tasks=research_tasks))
        return envs[-1]

    async def main():
        client = LLMClient(llm_config(llm_server))
        try:
            policy = ResearchAgentPolicy(client.session(), trim=TrimStrategy(keep_last_tool_results=4))
            outcome = await run_episode(make_env, policy, research_tasks[1].task_id, seed=5)
            return outcome, policy
        finally:
            await client.aclose()

    outcome, policy = asyncio.run(main())
    assert outcome.terminated and outcome.reward_components["accepted"] == 1.0
    assert outcome.usage["calls"] == len(llm_server.chat_requests()) == outcome.steps
    env = envs[0]
    requests = llm_server.chat_requests()
    # every request carried the env's tool schemas and the whole (trimmed) chat
    assert all(
        {t["function"]["name"] for t in r.body["tools"]} >= {"product_search", "submit_report"}
        for r in requests
    )
    # the malformed call reached the env unchanged and was answered with an error the agent saw next turn
    third = requests[2].body["messages"]
    errors = [json.loads(m["content"]) for m in third if m.get("role") == "tool" and "error" in m["content"]]
    assert any(e.get("error_kind") == "bad_json" for e in errors)
    assert any(
        m.get("content") and json.loads(m["content"]).get("result") == 4
        for m in third
        if m.get("role") == "tool"
    )
    # parallel calls: one assistant turn carried several product_search calls, each answered in order
    parallel = [
        m for m in env._messages if m.get("role") == "assistant" and len(m.get("tool_calls") or []) >= 3
    ]
    assert parallel
    # context trimming: older tool results were stubbed in later requests, ids kept
    last = requests[-1].body["messages"]
    stubbed = [m for m in last if m.get("role") == "tool" and m["content"].startswith("[trimmed")]
    assert stubbed and all(m.get("tool_call_id") for m in stubbed)
    assert max(s["stubbed_tool_results"] for s in policy.sent) >= 1


def test_trim_strategy_keeps_recent_results_and_structure() -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "task"}]
    for i in range(6):
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": f"c{i}", "function": {"name": "x", "arguments": "{}"}}],
            }
        )
        messages.append(
            {"role": "tool", "tool_call_id": f"c{i}", "name": "product_search", "content": "y" * 5000}
        )
    trimmed = TrimStrategy(keep_last_tool_results=2, max_chars=None).apply(messages)
    assert len(trimmed) == len(messages)
    full = [m for m in trimmed if m.get("role") == "tool" and m["content"] == "y" * 5000]
    assert [m["tool_call_id"] for m in full] == ["c4", "c5"]
    tight = TrimStrategy(keep_last_tool_results=6, max_chars=12_000, min_full_tool_results=1).apply(messages)
    assert sum(len(m.get("content") or "") for m in tight) <= 12_000
    assert tight[-1]["content"] == "y" * 5000
    assert TrimStrategy(mode="none").apply(messages) == messages
