"""Typed episode events: the one channel from the env to whoever records or watches an episode.

Every step emits events in order: the agent's turn, each tool result, each supervisor verdict, the feedback and
environment messages and, at the end, the episode summary. Each event is emitted once, to every subscriber
(:meth:`~sandbox.env.core.ProductResearchEnv.subscribe`, or the ``on_event`` constructor argument), with its
timing; a plain copy without the chat message and without timings (unless ``info_timings=True``, so that two
runs of a seeded episode give identical infos) also goes into ``info["events"]``.

One vocabulary: an event's ``role`` says who produced it (``user_agent``, ``research_agent``, ``tool``,
``supervisor``, ``environment``), the same words the episode trace uses. :class:`EventRecord` is the part of an
event a trace stores; the chat message an event carries (:attr:`EnvEvent.message`) is stored once, in the
trace's step records, not again in its event list.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

EventKind = Literal[
    "reset", "assistant", "tool_result", "supervisor", "feedback", "environment", "episode_end"
]
EventRole = Literal["user_agent", "research_agent", "tool", "supervisor", "environment"]
"""Who produced an event: the user (agent) who asked, the research agent, a tool, the supervisor, or the env's
own notes (malformed actions, nudges, the episode summary)."""


class EventRecord(BaseModel):
    """What happened, when and how long it took: the part of an event an episode trace keeps."""

    step: int = Field(ge=0, description="Episode step (0 for reset).")
    kind: EventKind
    role: EventRole
    tool_result: dict[str, Any] | None = Field(
        default=None, description="call_id, name, ok, error_kind, access of a tool result."
    )
    verdict: dict[str, Any] | None = Field(
        default=None, description="where, kind, passed (and, in the env's events, the critiques)."
    )
    data: dict[str, Any] = Field(default_factory=dict)
    timing_ms: float | None = None


class EnvEvent(EventRecord):
    """One thing that happened in a step, as the env emits it.

    ``message`` is the chat message the event added (OpenAI format: the assistant turn, a tool message, a
    supervisor or environment message), the very dict the env keeps in its chat (do not change it).
    ``product_ids`` are the catalog ids a successful tool result showed (search hits, visited products), taken
    from the tool's typed result: they exist in the snapshot.
    """

    message: dict[str, Any] | None = None
    product_ids: list[str] = Field(default_factory=list)

    def as_info(self, with_timing: bool) -> dict[str, Any]:
        """Plain data for ``info["events"]`` (the message is already in ``info["new_messages"]``)."""
        out = self.model_dump(exclude_none=True, exclude={"message"})
        if not self.product_ids:
            out.pop("product_ids")
        if not with_timing:
            out.pop("timing_ms", None)
        return out

    def record(self) -> dict[str, Any]:
        """The fields a trace stores: no message (the step records hold it) and only the verdict's outcome (its
        critiques are in the step's verdicts)."""
        out = self.model_dump(exclude_none=True, exclude={"message", "product_ids"})
        if self.verdict is not None:
            out["verdict"] = {k: self.verdict[k] for k in ("where", "kind", "passed") if k in self.verdict}
        if not out.get("data"):
            out.pop("data", None)
        return out
