"""The wire models of ``prgym serve``: OpenEnv ``Action`` / ``Observation`` / ``State`` subclasses.

One action model carries both action forms, so one server (and one ``/schema``) serves every client:

- ``{"message": <assistant message dict | text | JSON tool call>}``: one assistant turn, exactly what
  ``ProductResearchEnv.step`` takes (plan text, tool calls and final answers together; verl, ``prgym run``);
- ``{"tool": NAME, "arguments": {...}}``: one tool call as one step (``ProductResearchEnv.call_tool``; OpenEnv
  harness sessions, TRL, verifiers);
- ``{"finish": true}``: score the episode now (``ProductResearchEnv.finish``), e.g. for an abandoned rollout.

Observations carry the env's text, the Gymnasium ``terminated`` / ``truncated`` split (OpenEnv has only
``done``) and the step's ``info``. ``info["messages"]`` is not sent on every step (it grows with the episode);
the server sends ``info["messages_delta"]`` (what the step appended) with ``info["messages_start"]`` (its index),
and :class:`prgym.client.RemoteEnv` rebuilds ``info["messages"]`` so its contract matches the local env's.
"""

from __future__ import annotations

from typing import Any, Literal

from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field, model_validator

PlanMode = Literal["turn", "tool", "none"]


class PrgymAction(Action):
    """One step: an assistant turn (``message``), one tool call (``tool`` + ``arguments``) or ``finish``."""

    message: dict[str, Any] | str | None = Field(
        default=None, description="An OpenAI assistant message dict, plain text, or a JSON tool call."
    )
    tool: str | None = Field(default=None, description="Per-call form: the tool to call.")
    arguments: dict[str, Any] | str | None = Field(
        default=None, description="Per-call form: the tool's arguments (an object or its JSON text)."
    )
    finish: bool = Field(default=False, description="End the episode now and score it (as truncated).")

    @model_validator(mode="after")
    def _one_form(self) -> PrgymAction:
        forms = [self.message is not None, self.tool is not None, self.finish]
        if sum(forms) != 1:
            raise ValueError(
                "an action is exactly one of {'message': ...}, {'tool': NAME, 'arguments': {...}} or "
                "{'finish': true}"
            )
        if self.arguments is not None and self.tool is None:
            raise ValueError(
                "'arguments' needs 'tool' (the per-call form is {'tool': NAME, 'arguments': {...}})"
            )
        return self

    @property
    def form(self) -> Literal["message", "tool", "finish"]:
        if self.message is not None:
            return "message"
        return "tool" if self.tool is not None else "finish"


class PrgymObservation(Observation):
    """What a reset or a step returns: the env's text, the reward, the Gymnasium end flags and ``info``."""

    text: str = Field(default="", description="The observation text (the env's observation).")
    terminated: bool = Field(default=False, description="The episode ended (final answer or limits).")
    truncated: bool = Field(
        default=False, description="The episode was cut off (step limit, finish, timeout)."
    )
    info: dict[str, Any] = Field(default_factory=dict, description="The env's info dict (see module doc).")


class PrgymState(State):
    """The session's episode: id, steps, task, phase and whether it is over."""

    task_id: str | None = None
    phase: str | None = None
    over: bool = False
    session_id: str | None = None
