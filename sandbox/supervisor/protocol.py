"""The supervisor contract: three checks (plan, tool call, final answer), each a pass or specific critiques.

The env calls a :class:`Supervisor` at each phase change and on each tool call, and never needs to know how it
decides: the rule-based supervisor here checks against the catalog; an LLM supervisor (in ``harness``) plugs
into the same protocol. A :class:`Critique` says what is wrong, where, and what to do about it; the env turns a
failed :class:`Verdict` into supervisor feedback (a ``user`` message starting with ``[supervisor]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from sandbox.catalog.backend import CatalogBackend
from sandbox.tasks.models import ResearchTask, ShoppingTask

CheckKind = Literal["plan", "tool_call", "answer"]
SUPERVISOR_MARKER = "[supervisor]"


class Critique(BaseModel):
    """One failed check: which check, what is wrong, where, and how to fix it."""

    model_config = ConfigDict(frozen=True)

    check: str
    message: str
    where: str
    fix: str

    def render(self) -> str:
        return f"[{self.check}] {self.where}: {self.message} Fix: {self.fix}"


class Verdict(BaseModel):
    """The outcome of one check. ``passed`` is true exactly when there are no critiques."""

    kind: CheckKind
    passed: bool
    critiques: list[Critique] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list, description="Names of the checks that were run.")
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, kind: CheckKind, checks: list[str], critiques: list[Critique], **details: Any) -> Verdict:
        return cls(kind=kind, passed=not critiques, critiques=critiques, checks=checks, details=details)


class ToolCallRecord(BaseModel):
    """One executed tool call as the supervisor sees it (``result`` is the typed tool result, if any)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: int = Field(description="1-based position among the episode's tool calls.")
    step: int
    call_id: str
    name: str
    arguments: dict[str, Any] | None = None
    ok: bool
    error_kind: str | None = None
    error: str | None = None
    result: Any = None
    _signature: str | None = PrivateAttr(default=None)

    @property
    def signature(self) -> str:
        """Tool name plus canonical arguments: two calls with the same signature ask the same question."""
        if self._signature is None:
            try:
                args = json.dumps(self.arguments, sort_keys=True, ensure_ascii=False, default=str)
            except (TypeError, ValueError, RecursionError):
                args = repr(self.arguments)
            self._signature = f"{self.name}({args})"
        return self._signature


@dataclass
class SupervisorContext:
    """What a supervisor may consult: the task, the catalog and what the agent did and saw so far."""

    task: ResearchTask | ShoppingTask
    backend: CatalogBackend
    plan: str | None = None
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    seen_product_ids: set[str] = field(default_factory=set)
    seen_urls: set[str] = field(default_factory=set)
    signatures: dict[str, int] = field(default_factory=dict)

    def record_call(self, record: ToolCallRecord) -> None:
        """Append an executed call; successful calls index their signature for repeat detection."""
        self.tool_calls.append(record)
        if record.ok:
            self.signatures.setdefault(record.signature, record.index)


@runtime_checkable
class Supervisor(Protocol):
    """Checks the agent's plan, each tool call and its final answer."""

    def check_plan(self, plan: str | None, ctx: SupervisorContext) -> Verdict:
        """``plan`` is the first assistant turn's text (``None`` when the agent acted without a plan)."""
        ...

    def check_tool_call(self, call: ToolCallRecord, ctx: SupervisorContext) -> Verdict:
        """``ctx.tool_calls`` holds the earlier calls (not ``call`` itself)."""
        ...

    def check_answer(self, answer: FinalAnswer, ctx: SupervisorContext) -> Verdict: ...


class FinalAnswer(BaseModel):
    """A submitted final answer: a report (research tasks) or recommended product ids (shopping tasks)."""

    kind: Literal["report", "recommendation"]
    report: str | None = None
    product_ids: list[str] = Field(default_factory=list)
