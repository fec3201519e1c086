"""Helpers shared by the harness tests (imported by name: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import asyncio

from harness.llm import LLMConfig
from harness.testing.openai_server import ScriptedOpenAIServer


def config_for(server: ScriptedOpenAIServer, **overrides: object) -> LLMConfig:
    """A config for the scripted server with small, test-friendly timeouts and backoff."""
    values: dict[str, object] = {
        "base_url": server.base_url,
        "model": "test-model",
        "api_key": "sk-test",
        "timeout_s": 5.0,
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.04,
    }
    values.update(overrides)
    return LLMConfig(**values)  # type: ignore[arg-type]


class RecordingSleep:
    """An injectable sleep that records each requested wait and yields control without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)
