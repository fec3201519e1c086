"""The LLM supervisor: the rule-based checks first, then an LLM critique of what the rules cannot judge.

:class:`LLMSupervisor` implements the env's ``Supervisor`` protocol. For each check (plan, tool call, final
answer) it runs :class:`~sandbox.supervisor.rules.RuleBasedSupervisor`; a rule failure is returned as is (no
LLM call: the concrete critique is better and free). When the rules pass, the LLM judges plan logic, tool-call
usefulness or report quality against the task's rubric and answers ``{"pass": bool, "critique": str}``.

A reply that is not that JSON (after ``parse_retries`` extra tries) or a failed request never ends the episode:
the check passes with a note, and the reason is recorded. Every LLM verdict is kept in :attr:`records` (and
passed to ``on_record``) so recorders can store critiques beside the trajectory; LLM critiques also reach the
agent as ordinary supervisor feedback, with check names ``llm_plan``, ``llm_tool_call`` and ``llm_report``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.llm.client import LLMClient, LLMError
from harness.llm.config import LLMConfig
from harness.llm.replies import json_object
from harness.llm.usage import UsageMeter
from harness.supervision import prompts
from harness.supervision.loop import LoopThread
from sandbox.supervisor.protocol import Critique, FinalAnswer, SupervisorContext, ToolCallRecord, Verdict
from sandbox.supervisor.rules import RuleBasedSupervisor

MAX_KEPT_REPLY_CHARS = 4000


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_KEPT_REPLY_CHARS:
        return text
    return text[:MAX_KEPT_REPLY_CHARS] + f"... [{len(text) - MAX_KEPT_REPLY_CHARS} more characters cut]"


CheckName = Literal["plan", "tool_call", "answer"]
ALL_CHECKS: tuple[CheckName, ...] = ("plan", "tool_call", "answer")


class LLMVerdict(BaseModel):
    """The JSON the LLM must answer with."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    passed: bool = Field(alias="pass")
    critique: str = ""


class SupervisionRecord(BaseModel):
    """One supervisor decision, for the trajectory record."""

    check: CheckName
    where: str
    rules_passed: bool
    llm_called: bool
    passed: bool
    critique: str | None = None
    note: str | None = Field(default=None, description="Why an LLM reply was not used (bad JSON, error).")
    raw_reply: str | None = None
    attempts: int = 0
    finish_reason: str | None = None


def parse_verdict(text: str | None) -> LLMVerdict:
    """Strictly parse the LLM's reply: one JSON object (a ```json fence around it is tolerated)."""
    data = json_object(text)
    try:
        verdict = LLMVerdict.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise ValueError(f"field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if not verdict.passed and not verdict.critique.strip():
        raise ValueError("'pass' is false but 'critique' is empty")
    return verdict


class LLMSupervisor:
    """Rule-based checks, then LLM critiques; see the module docstring.

    Give it an ``LLMConfig`` (it builds its own client on a private event loop thread) or a factory returning
    an :class:`LLMClient` (called on that loop). ``checks`` picks which checks consult the LLM.
    """

    def __init__(
        self,
        llm: LLMConfig | Callable[[], LLMClient],
        *,
        rules: RuleBasedSupervisor | None = None,
        checks: Iterable[CheckName] = ALL_CHECKS,
        parse_retries: int = 1,
        timeout_s: float = 300.0,
        on_record: Callable[[SupervisionRecord], None] | None = None,
    ) -> None:
        unknown = set(checks) - set(ALL_CHECKS)
        if unknown:
            raise ValueError(f"checks: unknown {sorted(unknown)}; expected some of {list(ALL_CHECKS)}")
        self.rules = rules or RuleBasedSupervisor()
        self.checks = frozenset(checks)
        self.parse_retries = parse_retries
        self.timeout_s = timeout_s
        self.on_record = on_record
        self.records: list[SupervisionRecord] = []
        self.usage = UsageMeter()
        """The supervisor's tokens and calls (every LLM call it made, failed ones counted as such)."""
        self._factory: Callable[[], LLMClient] = (
            (lambda config=llm: LLMClient(config)) if isinstance(llm, LLMConfig) else llm
        )
        self._loop = LoopThread()
        self._client: LLMClient | None = None
        self._parent: Any = None

    # -- the protocol -------------------------------------------------------------------------------------------

    def check_plan(self, plan: str | None, ctx: SupervisorContext) -> Verdict:
        verdict = self.rules.check_plan(plan, ctx)
        if not verdict.passed or "plan" not in self.checks:
            return self._rules_only("plan", "plan", verdict)
        return self._with_llm("plan", "plan", verdict, prompts.plan_prompt(ctx.task, plan or ""), "llm_plan")

    def check_tool_call(self, call: ToolCallRecord, ctx: SupervisorContext) -> Verdict:
        verdict = self.rules.check_tool_call(call, ctx)
        where = f"tool call #{call.index} ({call.name})"
        if not verdict.passed or "tool_call" not in self.checks:
            return self._rules_only("tool_call", where, verdict)
        earlier = [f"#{c.index} {c.name}({json.dumps(c.arguments, default=str)})" for c in ctx.tool_calls]
        result = call.result
        text = result.to_content() if hasattr(result, "to_content") else json.dumps(result, default=str)
        messages = prompts.tool_call_prompt(ctx.task, call, text, earlier)
        return self._with_llm("tool_call", where, verdict, messages, "llm_tool_call")

    def check_answer(self, answer: FinalAnswer, ctx: SupervisorContext) -> Verdict:
        verdict = self.rules.check_answer(answer, ctx)
        if not verdict.passed or "answer" not in self.checks:
            return self._rules_only("answer", "final answer", verdict)
        text = answer.report if answer.kind == "report" else "Recommended: " + ", ".join(answer.product_ids)
        messages = prompts.report_prompt(ctx.task, text or "")
        return self._with_llm("answer", "final answer", verdict, messages, "llm_report")

    # -- internals ----------------------------------------------------------------------------------------------

    def _rules_only(self, check: CheckName, where: str, verdict: Verdict) -> Verdict:
        self._record(
            SupervisionRecord(
                check=check,
                where=where,
                rules_passed=verdict.passed,
                llm_called=False,
                passed=verdict.passed,
                critique="; ".join(c.message for c in verdict.critiques) or None,
            )
        )
        return verdict

    def _with_llm(
        self, check: CheckName, where: str, verdict: Verdict, messages: list[dict[str, Any]], name: str
    ) -> Verdict:
        reply, attempts, parsed, note, finish = None, 0, None, None, None
        replies: list[str | None] = []
        conversation = list(messages)
        for _ in range(self.parse_retries + 1):
            attempts += 1
            try:
                reply, finish = self._loop.run(self._ask(conversation), timeout=self.timeout_s)
            except (LLMError, TimeoutError) as exc:
                note = f"LLM request failed ({type(exc).__name__}: {exc}); passed on the rules alone"
                break
            replies.append(reply)
            try:
                parsed = parse_verdict(reply)
                note = None
                break
            except ValueError as exc:
                cut = " (truncated at max_tokens)" if finish == "length" else ""
                note = f"LLM reply unusable{cut} ({exc}); passed on the rules alone"
                conversation = [
                    *messages,
                    {"role": "assistant", "content": reply or ""},
                    {
                        "role": "user",
                        "content": f"Your reply was not valid: {exc}. Answer with the JSON object only.",
                    },
                ]
        passed = parsed.passed if parsed is not None else True
        critique_text = parsed.critique.strip() if parsed is not None and not parsed.passed else None
        self._record(
            SupervisionRecord(
                check=check,
                where=where,
                rules_passed=True,
                llm_called=True,
                passed=passed,
                critique=critique_text,
                note=note,
                raw_reply=reply,
                attempts=attempts,
                finish_reason=finish,
            )
        )
        details = dict(verdict.details)
        details["llm"] = {
            "passed": passed,
            "critique": critique_text,
            "note": note,
            "attempts": attempts,
            "finish_reason": finish,
            # what the model really answered, every try: "unusable 8 of 8" is diagnosed from these
            "raw_replies": [_clip(r) for r in replies],
        }
        if passed:
            return verdict.model_copy(update={"checks": [*verdict.checks, name], "details": details})
        critique = Critique(
            check=name,
            message=critique_text or "",
            where=where,
            fix="Revise as the critique says, then continue.",
        )
        return Verdict.of(verdict.kind, [*verdict.checks, name], [critique], **details)

    async def _ask(self, messages: list[dict[str, Any]]) -> tuple[str | None, str | None]:
        if self._client is None:
            client = self._factory()
            self._client = client.session(self.usage) if hasattr(client, "session") else client
            self._parent = client
        result = await self._client.chat(messages)
        return result.content, result.finish_reason

    def usage_snapshot(self) -> dict[str, int]:
        """:attr:`usage` as a record's ``usage`` dict."""
        return self.usage.snapshot()

    def _record(self, record: SupervisionRecord) -> None:
        self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)

    def close(self) -> None:
        """Close the client and stop the loop thread."""
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing must not raise over an episode's result
                self._loop.run(self._parent.aclose(), timeout=10)
            self._client = None
        self._loop.close()
