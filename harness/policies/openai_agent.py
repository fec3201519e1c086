"""The research agent over an OpenAI-compatible endpoint: function calling driven by the env's chat.

Each turn sends ``info["messages"]`` (trimmed by a :class:`~harness.policies.context.TrimStrategy`) and the
env's tool schemas (``info["tools"]``) through :class:`~harness.llm.client.LLMClient`, and returns the
assistant message exactly as the server produced it: several tool calls in one turn run in order in the env,
and malformed calls (bad JSON arguments, unknown tools) go to the env unchanged, which answers them with an
error the model can correct. Retries, timeouts and token accounting are the client's.
"""

from __future__ import annotations

from typing import Any

from harness.llm.client import LLMClient
from harness.policies.context import TrimStrategy
from harness.rollout.policy import OpenAIChatPolicy


class ResearchAgentPolicy(OpenAIChatPolicy):
    """One episode's LLM research agent (give each episode its own, over ``client.session()``).

    ``trim`` bounds the context; ``params`` are extra request fields (``tool_choice``, ``temperature``, ...).
    ``sent`` keeps, per turn, how many messages were sent and how many tool results were stubbed.
    """

    def __init__(
        self,
        client: LLMClient,
        *,
        trim: TrimStrategy | None = None,
        send_reasoning: bool = False,
        **params: Any,
    ) -> None:
        super().__init__(client, send_reasoning=send_reasoning, **params)
        self.trim = trim or TrimStrategy()
        self.sent: list[dict[str, int]] = []

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        trimmed = self.trim.apply(messages)
        stubbed = sum(1 for a, b in zip(messages, trimmed, strict=True) if a is not b)
        self.sent.append({"messages": len(trimmed), "stubbed_tool_results": stubbed})
        return await super().act(trimmed, tools)
