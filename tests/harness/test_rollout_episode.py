"""run_episode: the policy loop over a real Gymnasium env (tool echo) and the real openai client."""

from __future__ import annotations

import asyncio
from typing import Any

import gymnasium
import pytest
from harness_helpers import config_for

from harness.llm import LLMClient
from harness.rollout import EnvContractError, OpenAIChatPolicy, run_episode
from harness.testing.echo_env import EchoToolEnv
from harness.testing.openai_server import Reply, ScriptedOpenAIServer, tool_loop_responder


def play(server: ScriptedOpenAIServer, env: gymnasium.Env | None = None, **kwargs: Any) -> Any:
    envs: list[gymnasium.Env] = []

    def factory() -> gymnasium.Env:
        envs.append(env or EchoToolEnv())
        return envs[-1]

    async def go() -> Any:
        async with LLMClient(config_for(server)) as client:
            policy = OpenAIChatPolicy(client.session())
            return await run_episode(factory, policy, "task-7", seed=11, **kwargs)

    outcome = asyncio.run(go())
    assert envs and all(e.closed for e in envs)
    return outcome


def test_episode_with_parallel_malformed_and_unknown_tool_calls(server: ScriptedOpenAIServer) -> None:
    server.push(
        Reply.tool("echo", {"text": "w1"}, reasoning_content="start with the first word"),
        Reply.tools(("echo", {"text": "w2"}), ("echo", {"text": "w3"})),
        Reply.tools(("echo", '{"text": "w4"'), ("teleport", {"to": "mars"})),
        Reply.text("done: w1 w2 w3"),
    )
    outcome = play(server)
    assert outcome.steps == 4 and outcome.terminated and not outcome.truncated
    assert outcome.reward == pytest.approx(3 / 5)
    assert outcome.reward_components == {"valid_call_rate": pytest.approx(0.6), "answered": 1.0}
    assert outcome.usage["calls"] == 4 and outcome.usage["total_tokens"] > 0
    assert outcome.info == {"task_id": "task-7", "env_version": "echo-1"}
    requests = server.chat_requests()
    assert len(requests) == 4
    last = requests[-1].body["messages"]
    tool_texts = [m["content"] for m in last if m["role"] == "tool"]
    assert tool_texts[:3] == ["echo: w1", "echo: w2", "echo: w3"]
    assert tool_texts[3].startswith("error: arguments of 'echo' are not valid JSON")
    assert tool_texts[4] == "error: unknown tool 'teleport'; available tools: echo, finish"
    # The malformed call went to the env verbatim and came back to the model verbatim.
    assert last[-3]["tool_calls"][0]["function"]["arguments"] == '{"text": "w4"'
    # Reasoning is kept in the trajectory but not sent back to the server.
    assert all("reasoning_content" not in m for r in requests for m in r.body["messages"])
    assert requests[0].body["tools"][0]["function"]["name"] == "echo"


def test_max_steps_truncates(server: ScriptedOpenAIServer) -> None:
    server.responder = tool_loop_responder(turns=100)
    outcome = play(server, max_steps=3)
    assert outcome.steps == 3 and outcome.truncated and not outcome.terminated
    assert len(server.chat_requests()) == 3


def test_env_truncation_and_offloaded_steps(server: ScriptedOpenAIServer) -> None:
    server.responder = tool_loop_responder(turns=100)
    outcome = play(server, env=EchoToolEnv(max_turns=2), offload_env=True)
    assert outcome.steps == 2 and outcome.truncated and outcome.reward == 0.0
    assert outcome.reward_components["answered"] == 0.0


class NoMessagesEnv(EchoToolEnv):
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        obs, info = super().reset(seed=seed, options=options)
        info.pop("messages")
        return obs, info


def test_env_without_messages_is_a_clear_error(server: ScriptedOpenAIServer) -> None:
    with pytest.raises(EnvContractError, match="'messages' list"):
        play(server, env=NoMessagesEnv())


class PlainStepEnv(EchoToolEnv):
    """An env whose step info carries no conversation: the loop appends action and observation itself."""

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = super().step(action)
        info.pop("messages")
        return obs, reward, terminated, truncated, info


def test_env_without_step_messages_gets_action_and_observation_appended(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.tool("echo", {"text": "hi"}), Reply.text("bye"))
    outcome = play(server, env=PlainStepEnv())
    assert outcome.steps == 2 and outcome.reward == 1.0
    second = server.chat_requests()[1].body["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "echo"
    assert second[-1] == {"role": "user", "content": "echo: hi"}


def test_same_seed_same_opening(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.text("a"), Reply.text("b"))
    play(server)
    play(server)
    first, second = (r.body["messages"][1]["content"] for r in server.chat_requests())
    assert first == second and "task-7" in first


class AsyncApiEnv(EchoToolEnv):
    """An env with native coroutine methods (like the prgym env's ``areset``/``astep``)."""

    def __init__(self) -> None:
        super().__init__()
        self.async_calls = 0

    async def areset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict]:
        self.async_calls += 1
        return self.reset(seed=seed, options=options)

    async def astep(self, action: Any) -> tuple[str, float, bool, bool, dict]:
        self.async_calls += 1
        return self.step(action)


def test_native_async_env_methods_are_used(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.tool("echo", {"text": "hi"}), Reply.text("bye"))
    env = AsyncApiEnv()
    outcome = play(server, env=env)
    assert outcome.steps == 2 and outcome.reward == 1.0
    assert env.async_calls == 3  # areset + 2 x astep
