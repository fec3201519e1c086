"""The raw episode trace (DESIGN section 6): one JSON line per episode, versioned.

A trace keeps everything needed to turn a multi-agent episode into training data later, without rerunning it:
the task, what the episode ran against (catalog snapshot, web cache namespace, versions), who acted (policy
metadata), every event in order with its role, and, per step, the chat messages the step added. The step view
is what :mod:`harness.distill` reads to tell accepted attempts from rejected ones: each step holds the agent's
turn, the tool messages answering it, the feedback messages, and the supervisor verdicts naming what they
judged (``plan``, ``tool call #n (...)``, ``final answer``) with their critiques.

Bump :data:`SCHEMA_VERSION` whenever a field changes meaning; readers refuse versions they do not know.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.env.events import EventRecord, EventRole

SCHEMA_VERSION = 2
"""The version written into every record; :func:`sandbox.recorder.reader.read_traces` accepts these.

2: events no longer repeat the chat messages (the step records hold them) nor the verdicts' critiques; a
report's ``final_answer`` names the step of its ``submit_report`` call (``report_step``) instead of copying it.
1: events carried ``content`` and ``tool_calls`` copies (still readable)."""
SUPPORTED_VERSIONS = frozenset({1, SCHEMA_VERSION})

TraceRole = EventRole
"""Who produced an event (one vocabulary with the env's events: :data:`sandbox.env.events.EventRole`)."""


class TraceEvent(EventRecord):
    """One event of the episode, in order: the stored part of an :class:`~sandbox.env.events.EnvEvent`."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, description="Position in the episode's event list.")
    kind: str  # type: ignore[assignment]  # a reader accepts kinds a newer env may add
    content: str | None = Field(default=None, description="Schema 1 only: a copy of the message text.")
    tool_calls: list[dict[str, Any]] | None = Field(default=None, description="Schema 1 only.")


def submitted_report(steps: list[StepRecord], step: int | None) -> str | None:
    """The report of the last ``submit_report`` call of step ``step`` (schema 2 stores the final report once,
    in the agent's own call, and names its step in ``final_answer``)."""
    for record in reversed(steps):
        if step is not None and record.step != step:
            continue
        for call in reversed(record.assistant.get("tool_calls") or []):
            function = call.get("function") or {}
            if function.get("name") != "submit_report":
                continue
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except ValueError:
                continue
            if isinstance(arguments, dict) and isinstance(arguments.get("report"), str):
                return arguments["report"]
    return None


class StepRecord(BaseModel):
    """One ``env.step``: the agent's turn and everything the env added in answer, as chat messages."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=1)
    assistant: dict[str, Any] = Field(description="The agent's turn as recorded in the chat (OpenAI format).")
    tool_messages: list[dict[str, Any]] = Field(default_factory=list)
    feedback: list[dict[str, Any]] = Field(
        default_factory=list, description="Supervisor / environment messages (role user, with a name)."
    )
    verdicts: list[dict[str, Any]] = Field(
        default_factory=list, description="Supervisor verdicts: where, kind, passed, critiques."
    )
    errors: list[dict[str, Any]] = Field(default_factory=list)
    phase_after: str | None = None
    reward: float = 0.0
    duration_ms: float | None = None
    usage: dict[str, int] | None = Field(default=None, description="Tokens the policy spent on this turn.")


class EpisodeTrace(BaseModel):
    """One episode: a line of a traces file."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int
    episode_id: str = Field(min_length=1)
    task_id: str
    task_kind: Literal["research", "shopping"]
    task: dict[str, Any]
    seed: int | None = None
    catalog_snapshot: str
    cache_namespace: str | None = None
    env_version: str
    prgym_version: str
    policy: dict[str, Any] = Field(
        default_factory=dict,
        description="Who acted: e.g. {'teacher': 'gpt-4.1@t0.7', 'models': {'agent': 'gpt-4.1'}, ...}.",
    )
    tools: list[dict[str, Any]]
    opening: list[dict[str, Any]] = Field(description="The opening chat (system prompt and user request).")
    steps: list[StepRecord] = Field(default_factory=list)
    events: list[TraceEvent] = Field(default_factory=list)
    known_product_ids: list[str] = Field(
        default_factory=list,
        description="Ids the catalog snapshot confirmed during the episode (search hits, visited products, "
        "cited ids that exist): the offline stand-in for the snapshot when it is not at hand.",
    )
    finished: bool = Field(description="False when the episode was abandoned (reset or close mid-episode).")
    terminated: bool = False
    truncated: bool = False
    accepted: bool = False
    reward: float | None = None
    reward_components: dict[str, float] = Field(default_factory=dict)
    reward_weights: dict[str, float] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    final_answer: dict[str, Any] | None = None
    usage: dict[str, int] = Field(default_factory=dict, description="Token totals of the episode.")
    usage_by_role: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Token totals per LLM role (agent, supervisor, ...) when more than the agent used a model.",
    )
    started_at: str
    duration_s: float = Field(ge=0)

    @property
    def teacher(self) -> str:
        """The name of the policy that produced the trace (``policy['teacher']``, else its model, else '?')."""
        for key in ("teacher", "name", "model"):
            value = self.policy.get(key)
            if isinstance(value, str) and value:
                return value
        models = self.policy.get("models")
        if isinstance(models, dict) and models:
            return ",".join(f"{k}={v}" for k, v in sorted(models.items()))
        return "?"

    @property
    def report(self) -> str | None:
        """The final report (research tasks), if one was submitted."""
        answer = self.final_answer or {}
        if answer.get("kind") != "report":
            return None
        if "report" in answer:  # schema 1
            return answer.get("report")
        return submitted_report(self.steps, answer.get("report_step"))
