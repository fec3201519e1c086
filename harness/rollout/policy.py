"""A chat policy over an OpenAI-compatible endpoint: send the conversation and tools, return the assistant
message exactly as the server produced it (malformed tool calls included: the env answers those)."""

from __future__ import annotations

from typing import Any

from harness.llm.client import ChatResult, LLMClient
from harness.llm.usage import UsageMeter


class OpenAIChatPolicy:
    """One episode's policy. Give each episode its own (``OpenAIChatPolicy(shared_client.session())``) so
    ``usage`` counts that episode's tokens while the connection pool and endpoint limit are shared.

    ``reasoning_content`` is kept in the returned message (it is part of the trajectory) but stripped from the
    messages sent back to the server unless ``send_reasoning`` is set: several APIs (DeepSeek, OpenAI) reject it
    as an input field.
    """

    def __init__(self, client: LLMClient, *, send_reasoning: bool = False, **params: Any) -> None:
        self.client = client
        self.send_reasoning = send_reasoning
        self.params = params
        self.results: list[ChatResult] = []

    @property
    def usage(self) -> UsageMeter:
        return self.client.usage

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        outgoing = messages if self.send_reasoning else [_without_reasoning(m) for m in messages]
        result = await self.client.chat(outgoing, tools or None, **self.params)
        self.results.append(result)
        return result.message


def _without_reasoning(message: dict[str, Any]) -> dict[str, Any]:
    if "reasoning_content" not in message:
        return message
    return {k: v for k, v in message.items() if k != "reasoning_content"}
