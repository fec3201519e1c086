"""Typed per-step events: the hook the episode recorder attaches to without changing the env.

Every step emits events in order: the agent's turn, each tool result, each supervisor verdict, environment
feedback and, at the end, the episode summary. They go to the optional ``on_event`` callback (with timings) and
into ``info["events"]`` (timings only when ``info_timings=True``, so that two runs of a seeded episode give
identical infos).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

EventKind = Literal["reset", "assistant", "tool_result", "supervisor", "environment", "episode_end"]
EventRole = Literal["user", "research_agent", "tool", "supervisor", "environment"]


class EnvEvent(BaseModel):
    """One thing that happened in a step."""

    step: int = Field(description="Episode step (0 for reset).")
    kind: EventKind
    role: EventRole
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_result: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    timing_ms: float | None = None

    def as_info(self, with_timing: bool) -> dict[str, Any]:
        """Plain data for ``info["events"]``."""
        out = self.model_dump(exclude_none=True)
        if not with_timing:
            out.pop("timing_ms", None)
        return out
