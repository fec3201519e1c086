"""Helpers for the policy tests (imported by name: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

from typing import Any

from harness.llm import LLMConfig
from harness.policies.scripted import ScriptedPolicy
from harness.testing.openai_server import ScriptedOpenAIServer
from sandbox.env import ProductResearchEnv


def llm_config(server: ScriptedOpenAIServer, **overrides: Any) -> LLMConfig:
    values: dict[str, Any] = {
        "base_url": server.base_url,
        "model": "test-model",
        "api_key": "sk-test",
        "timeout_s": 5.0,
        "max_retries": 1,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.02,
    }
    values.update(overrides)
    return LLMConfig(**values)


def drive(env: ProductResearchEnv, policy: ScriptedPolicy, *, seed: int, options: dict[str, Any]):
    """Run one episode with ``policy`` stepping ``env`` directly; returns (actions, last info, reward)."""
    _, info = env.reset(seed=seed, options=options)
    actions: list[dict[str, Any]] = []
    messages, tools = info["messages"], info["tools"]
    while True:
        action = policy.next_action(messages, tools)
        actions.append(action)
        _, reward, terminated, truncated, info = env.step(action)
        messages = info["messages"]
        if terminated or truncated:
            return actions, info, reward
