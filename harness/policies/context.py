"""Context trimming: keep a long episode's chat within a model's context window.

Tool results (search pages, product records) dominate an episode's tokens, and old ones matter least once the
agent has acted on them. :class:`TrimStrategy` keeps the system prompt, the request, every assistant turn and
every supervisor / environment message, keeps the newest ``keep_last_tool_results`` tool results in full, and
replaces older ones by a one-line stub that names the tool and size (the ``tool_call_id`` stays, so the chat
remains valid for the OpenAI API). If the chat is still over ``max_chars``, more tool results are stubbed, oldest
first, down to ``min_full_tool_results``. Nothing is ever removed, so assistant tool calls keep their answers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

STUB = "[trimmed to save context: an earlier {name} result of {chars:,} characters; call the tool again if needed]"


class TrimStrategy(BaseModel):
    """How to shorten the chat before each LLM call (``mode="none"`` sends it unchanged)."""

    mode: Literal["stub_old_tool_results", "none"] = "stub_old_tool_results"
    keep_last_tool_results: int = Field(default=8, ge=0, description="Newest tool results kept in full.")
    max_chars: int | None = Field(
        default=120_000, ge=1000, description="Stub more (oldest first) while the chat is longer than this."
    )
    min_full_tool_results: int = Field(default=2, ge=0, description="Never stub the newest ones below this.")
    stub_over_chars: int = Field(default=400, ge=0, description="Results this short are never stubbed.")

    def apply(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A trimmed copy of ``messages`` (the input is not modified)."""
        if self.mode == "none":
            return list(messages)
        tool_positions = [i for i, m in enumerate(messages) if m.get("role") == "tool"]
        stubbed: set[int] = set()
        keep = self.keep_last_tool_results
        older = tool_positions[: max(0, len(tool_positions) - keep)]
        stubbed.update(i for i in older if _length(messages[i]) > self.stub_over_chars)
        if self.max_chars is not None:
            total = sum(_length(m) for i, m in enumerate(messages) if i not in stubbed)
            floor = max(0, len(tool_positions) - self.min_full_tool_results)
            for i in tool_positions[:floor]:
                if total <= self.max_chars:
                    break
                if i in stubbed or _length(messages[i]) <= self.stub_over_chars:
                    continue
                stubbed.add(i)
                total -= _length(messages[i])
        return [_stub(m) if i in stubbed else m for i, m in enumerate(messages)]


def _length(message: dict[str, Any]) -> int:
    content = message.get("content")
    size = len(content) if isinstance(content, str) else 0
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            size += len(str((call.get("function") or {}).get("arguments") or ""))
    return size


def _stub(message: dict[str, Any]) -> dict[str, Any]:
    out = dict(message)
    out["content"] = STUB.format(name=message.get("name") or "tool", chars=_length(message))
    return out
