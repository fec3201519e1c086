"""The research agent over an OpenAI-compatible endpoint: function calling driven by the env's chat.

Each turn sends ``info["messages"]`` (trimmed by a :class:`~harness.policies.context.TrimStrategy`) and the
env's tool schemas (``info["tools"]``) through :class:`~harness.llm.client.LLMClient`, and returns the
assistant message exactly as the server produced it: several tool calls in one turn run in order in the env,
and malformed calls (bad JSON arguments, unknown tools) go to the env unchanged, which answers them with an
error the model can correct. Retries, timeouts and token accounting are the client's.

**The endpoint's context.** When the context size is known (``max_context_tokens`` in the config, or the size
the server reported, :func:`harness.llm.context.context_limit`), each turn is trimmed *before* it is sent so the
estimated prompt (:func:`harness.llm.compat.estimate_tokens`, tools included) plus room for the reply fits:
the strategy's ``max_chars`` is lowered to that budget (and again by what the estimate is still over), and if
stubbing down to its ``min_full_tool_results`` is not enough, the newest tool results are stubbed too (keeping
one, then none). The chat is then sent
even if the estimate is still over (it is pessimistic); a server that refuses it for length ends the episode
as ``llm_context_length_exceeded``, without a retry.
"""

from __future__ import annotations

from typing import Any

from harness.llm.client import LLMClient
from harness.llm.compat import CHARS_PER_TOKEN, estimate_tokens
from harness.llm.context import context_limit
from harness.policies.context import TrimStrategy
from harness.rollout.policy import OpenAIChatPolicy

#: Completion tokens kept free in the context when the config sets no ``max_tokens``.
REPLY_RESERVE_TOKENS = 1024


class ResearchAgentPolicy(OpenAIChatPolicy):
    """One episode's LLM research agent (give each episode its own, over ``client.session()``).

    ``trim`` bounds the context; ``params`` are extra request fields (``tool_choice``, ``temperature``, ...).
    ``sent`` keeps, per turn, how many messages were sent, how many tool results were stubbed and the
    estimated prompt tokens (with the context limit when one is known).
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

    def fit(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``messages`` trimmed by the strategy and, when the context size is known, to fit it."""
        limit = context_limit(self.client.config)
        if limit is None or self.trim.mode == "none":
            return self.trim.apply(messages)
        reserve = min(self.client.config.max_tokens or REPLY_RESERVE_TOKENS, limit // 4)
        budget = limit - reserve
        chars = int((budget - estimate_tokens([], tools) - 4 * len(messages)) * CHARS_PER_TOKEN)
        cap = max(0, chars if self.trim.max_chars is None else min(self.trim.max_chars, chars))
        floor = self.trim.min_full_tool_results
        floors = [floor] + [f for f in (1, 0) if f < floor]
        trimmed = messages
        for floor in floors:
            strategy = self.trim.model_copy(update={"max_chars": cap, "min_full_tool_results": floor})
            for _ in range(4):  # the character cap is an estimate: lower it by what is still over
                trimmed = strategy.apply(messages)
                over = estimate_tokens(trimmed, tools) - budget
                if over <= 0:
                    return trimmed
                lower = max(0, (strategy.max_chars or 0) - int(over * CHARS_PER_TOKEN) - 1)
                if lower == strategy.max_chars:
                    break
                strategy = strategy.model_copy(update={"max_chars": lower})
        return trimmed

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        trimmed = self.fit(messages, tools)
        stubbed = sum(1 for a, b in zip(messages, trimmed, strict=True) if a is not b)
        record = {"messages": len(trimmed), "stubbed_tool_results": stubbed}
        record["estimated_tokens"] = estimate_tokens(trimmed, tools)
        limit = context_limit(self.client.config)
        if limit is not None:
            record["context_limit"] = limit
        self.sent.append(record)
        return await super().act(trimmed, tools)
