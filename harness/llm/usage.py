"""Token usage accounting: per call, per client (or episode), rolled up into a parent meter.

Cost and context budgets are counted in tokens the server reports; a meter per episode, chained to a meter per
endpoint or run, gives both figures without a second pass over the records.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class TokenUsage(BaseModel):
    """Tokens of one call or a sum of calls, as reported by the server (``reasoning_tokens`` when it says)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_response(cls, usage: Any) -> TokenUsage | None:
        """Read an OpenAI ``usage`` object; ``None`` when the server sent none. Missing totals are summed."""
        if not isinstance(usage, dict):
            return None
        prompt = _int(usage.get("prompt_tokens"))
        completion = _int(usage.get("completion_tokens"))
        total = _int(usage.get("total_tokens")) or prompt + completion
        details = usage.get("completion_tokens_details")
        reasoning = _int(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
        return cls(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=total, reasoning_tokens=reasoning
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


class UsageMeter:
    """Running totals of calls and tokens; every record is also added to ``parent`` (if any)."""

    def __init__(self, parent: UsageMeter | None = None) -> None:
        self.parent = parent
        self._prompt = self._completion = self._total = self._reasoning = 0
        self.calls = 0
        self.failed_calls = 0
        self.attempts = 0
        self.calls_without_usage = 0

    def record(self, usage: TokenUsage | None, *, attempts: int, failed: bool = False) -> None:
        meter: UsageMeter | None = self
        while meter is not None:
            meter.attempts += attempts
            if failed:
                meter.failed_calls += 1
            else:
                meter.calls += 1
                if usage is None:
                    meter.calls_without_usage += 1
                else:
                    meter._prompt += usage.prompt_tokens
                    meter._completion += usage.completion_tokens
                    meter._total += usage.total_tokens
                    meter._reasoning += usage.reasoning_tokens
            meter = meter.parent

    @property
    def tokens(self) -> TokenUsage:
        """The token totals so far."""
        return TokenUsage(
            prompt_tokens=self._prompt,
            completion_tokens=self._completion,
            total_tokens=self._total,
            reasoning_tokens=self._reasoning,
        )

    def snapshot(self) -> dict[str, int]:
        """A JSON-ready summary (for episode records)."""
        return {
            **self.tokens.model_dump(),
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "attempts": self.attempts,
            "calls_without_usage": self.calls_without_usage,
        }
