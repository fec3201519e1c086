"""Reflective internalization: a raw multi-agent trace becomes one single-role training sample.

The sample is what the agent would have written had it caught its own mistakes (DESIGN section 6): supervisor
turns and rejected attempts disappear; what each critique taught becomes the agent's reflection in the
``reasoning_content`` of the assistant turn that acted on it; accepted tool calls and their results stay; the
final answer is the accepted one.

Which attempts are rejected, per step of the trace:

* a plan the supervisor rejected: the plan text goes (calls made in the same turn are judged on their own);
* a tool call that failed (``tool_call_valid``) or repeated an earlier one (``tool_call_not_repeated``): the
  call and its result go; a call that ran but found nothing relevant (``tool_call_relevant`` only) stays, since
  its result is what the agent really saw, and the lesson explains the next move;
* a rejected final answer: the submission and its receipt go;
* a malformed or text-only turn the env answered with an ``[environment]`` note: the whole turn goes;
* calls the env did not execute (after an accepted answer in the same turn) go.

Tool-call ids are renumbered ``call_1, call_2, ...`` so they are unique in the sample whatever the policy sent.
The system prompt and tool descriptions lose their sentences about the supervisor, since the student works
without one.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from harness.distill.lessons import IGNORED_CHECKS, Lesson, LessonKind, reflect
from sandbox.recorder.schema import EpisodeTrace, StepRecord

DROP_CHECKS = frozenset({"tool_call_valid", "tool_call_not_repeated"})
_SUPERVISOR_WORDS = re.compile(r"supervisor|\[environment\]", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class TrainingSample(BaseModel):
    """One line of the training file: OpenAI chat ``messages`` + ``tools`` + ``meta`` (TRL SFT-ready)."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    meta: dict[str, Any] = Field(default_factory=dict)


class InternalizedTurn(BaseModel):
    """Bookkeeping of one kept assistant turn: the lessons its reflection carries (for the LLM rewriter)."""

    message_index: int
    lessons: list[Lesson]


class Internalized(BaseModel):
    """The sample plus what was done to get it."""

    sample: TrainingSample
    turns: list[InternalizedTurn] = Field(default_factory=list)
    dropped_turns: int = 0
    dropped_calls: int = 0
    lessons: int = 0
    forbidden_texts: list[str] = Field(
        default_factory=list, description="Supervisor/environment messages of the trace (must not leak)."
    )


def strip_supervisor_text(text: str) -> str:
    """Remove lines (system prompt) or sentences (tool descriptions) that talk about the supervisor."""
    lines = []
    for line in text.splitlines():
        if not _SUPERVISOR_WORDS.search(line):
            lines.append(line)
            continue
        kept = [s for s in _SENTENCE.split(line) if not _SUPERVISOR_WORDS.search(s)]
        if kept and len(kept) < len(_SENTENCE.split(line)):
            lines.append(" ".join(kept))
    return "\n".join(lines)


def student_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trace's tool schemas with supervisor sentences removed from the descriptions."""
    out = copy.deepcopy(tools)
    for tool in out:
        function = tool.get("function") or {}
        if isinstance(function.get("description"), str):
            function["description"] = strip_supervisor_text(function["description"])
    return out


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _not_executed(tool_message: dict[str, Any]) -> bool:
    body = _json(tool_message.get("content"))
    return isinstance(body, dict) and str(body.get("error", "")).startswith("not executed")


def _lessons_of(verdict: dict[str, Any], kind: LessonKind, tool: str | None = None) -> list[Lesson]:
    out = []
    for critique in verdict.get("critiques") or []:
        if critique.get("check") in IGNORED_CHECKS:
            continue
        out.append(
            Lesson(
                kind=kind,
                check=str(critique.get("check", "")),
                message=str(critique.get("message", "")),
                fix=str(critique.get("fix", "")),
                tool=tool,
            )
        )
    return out


def _environment_lessons(step: StepRecord) -> list[Lesson]:
    out = []
    for message in step.feedback:
        if message.get("name") == "environment":
            text = str(message.get("content") or "").replace("[environment]", "").strip()
            out.append(Lesson(kind="environment", check="environment", message=text))
    return out


class _StepPlan(BaseModel):
    keep_content: bool
    kept_calls: list[tuple[dict[str, Any], dict[str, Any]]]
    lessons_after: list[Lesson]
    dropped_calls: int


def _judge_step(step: StepRecord) -> _StepPlan:
    """Decide what of one step survives and which lessons it leaves for the next kept turn."""
    lessons: list[Lesson] = []
    verdicts = list(step.verdicts)
    plan_verdicts = [v for v in verdicts if v.get("kind") == "plan"]
    call_verdicts = [v for v in verdicts if v.get("kind") != "plan"]
    calls = list(step.assistant.get("tool_calls") or [])
    invalid = any(e.get("kind") == "invalid_action" for e in step.errors)
    if invalid or (not plan_verdicts and not calls):
        return _StepPlan(
            keep_content=False,
            kept_calls=[],
            lessons_after=_environment_lessons(step),
            dropped_calls=len(calls),
        )
    keep_content = True
    if plan_verdicts:
        plan = plan_verdicts[0]
        if not plan.get("passed"):
            keep_content = False
            lessons += _lessons_of(plan, "plan")
    by_id = {m.get("tool_call_id"): m for m in step.tool_messages}
    kept: list[tuple[dict[str, Any], dict[str, Any]]] = []
    dropped = 0
    pending = iter(call_verdicts)
    for call in calls:
        message = by_id.get(call.get("id"))
        if message is None or _not_executed(message):
            dropped += 1
            continue
        verdict = next(pending, None) or {"kind": "tool_call", "passed": True, "critiques": []}
        name = str((call.get("function") or {}).get("name", "tool"))
        if verdict.get("kind") == "answer":
            if verdict.get("passed"):
                kept.append((call, message))
            else:
                dropped += 1
                lessons += _lessons_of(verdict, "answer")
            continue
        checks = {c.get("check") for c in verdict.get("critiques") or []}
        lessons += _lessons_of(verdict, "tool_call", name)
        if checks & DROP_CHECKS:
            dropped += 1
        else:
            kept.append((call, message))
    return _StepPlan(keep_content=keep_content, kept_calls=kept, lessons_after=lessons, dropped_calls=dropped)


def _final_text(trace: EpisodeTrace) -> str | None:
    answer = trace.final_answer or {}
    if answer.get("kind") == "report" and trace.report:
        return trace.report
    if answer.get("kind") == "recommendation" and answer.get("product_ids"):
        ids = ", ".join(f"[P:{pid}]" for pid in answer["product_ids"])
        return f"My recommendation: {ids}."
    return None


def _merge_into(previous: dict[str, Any], turn: dict[str, Any]) -> None:
    """Fold ``turn`` into the text-only assistant turn before it (contents and reasoning joined in order)."""
    texts = [t for t in (previous.get("content"), turn.get("content")) if isinstance(t, str) and t.strip()]
    previous["content"] = "\n\n".join(texts)
    thoughts = [
        t
        for t in (previous.get("reasoning_content"), turn.get("reasoning_content"))
        if isinstance(t, str) and t
    ]
    if thoughts:
        previous["reasoning_content"] = "\n\n".join(thoughts)
    if turn.get("tool_calls"):
        previous["tool_calls"] = turn["tool_calls"]


def _add_turn(
    messages: list[dict[str, Any]], turns: list[InternalizedTurn], turn: dict[str, Any], lessons: list[Lesson]
) -> None:
    """Append an assistant turn, or merge it into a text-only assistant turn just before it: the supervisor's
    "plan accepted" note separated those two turns, and without it they are one."""
    last = messages[-1]
    if last.get("role") == "assistant" and not last.get("tool_calls"):
        _merge_into(last, turn)
        index = len(messages) - 1
    else:
        messages.append(turn)
        index = len(messages) - 1
    if not lessons:
        return
    for position, existing in enumerate(turns):
        if existing.message_index == index:
            turns[position] = InternalizedTurn(message_index=index, lessons=existing.lessons + lessons)
            return
    turns.append(InternalizedTurn(message_index=index, lessons=lessons))


Reflector = Callable[[list[Lesson]], str]


def internalize(
    trace: EpisodeTrace, *, reflector: Reflector = reflect, final_message: bool = True
) -> Internalized:
    """The deterministic offline rewriter: ``trace`` as one single-role sample (see the module docstring)."""
    messages: list[dict[str, Any]] = []
    for message in trace.opening:
        if message.get("role") == "system":
            messages.append({"role": "system", "content": strip_supervisor_text(str(message.get("content")))})
        else:
            messages.append({"role": message["role"], "content": message.get("content")})
    turns: list[InternalizedTurn] = []
    pending: list[Lesson] = []
    dropped_turns = dropped_calls = total_lessons = 0
    counter = 0
    for step in trace.steps:
        plan = _judge_step(step)
        dropped_calls += plan.dropped_calls
        content = step.assistant.get("content") if plan.keep_content else None
        has_text = isinstance(content, str) and bool(content.strip())
        if not has_text and not plan.kept_calls:
            dropped_turns += 1
        else:
            turn: dict[str, Any] = {"role": "assistant", "content": content if has_text else ""}
            own = step.assistant.get("reasoning_content")
            thoughts = [reflector(pending)] if pending else []
            if isinstance(own, str) and own.strip():
                thoughts.append(own.strip())
            if thoughts:
                turn["reasoning_content"] = "\n\n".join(thoughts)
            tool_messages = []
            if plan.kept_calls:
                turn["tool_calls"] = []
                for call, result in plan.kept_calls:
                    counter += 1
                    new_id = f"call_{counter}"
                    function = call.get("function") or {}
                    turn["tool_calls"].append(
                        {
                            "id": new_id,
                            "type": "function",
                            "function": {
                                "name": function.get("name"),
                                "arguments": function.get("arguments"),
                            },
                        }
                    )
                    tool_messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": new_id,
                            "name": result.get("name"),
                            "content": result.get("content"),
                        }
                    )
            total_lessons += len(pending)
            _add_turn(messages, turns, turn, pending)
            messages.extend(tool_messages)
            pending = []
        pending = pending + plan.lessons_after
    final = _final_text(trace) if trace.accepted else None
    if final_message and final is not None:
        turn = {"role": "assistant", "content": final}
        if pending:
            turn["reasoning_content"] = reflector(pending)
            total_lessons += len(pending)
        _add_turn(messages, turns, turn, pending)
    forbidden = [
        str(m.get("content"))
        for step in trace.steps
        for m in step.feedback
        if isinstance(m.get("content"), str) and m.get("content")
    ]
    sample = TrainingSample(
        messages=messages,
        tools=student_tools(trace.tools),
        meta={
            "episode_id": trace.episode_id,
            "task_id": trace.task_id,
            "task_kind": trace.task_kind,
            "split": (trace.task or {}).get("split"),
            "teacher": trace.teacher,
            "seed": trace.seed,
            "catalog_snapshot": trace.catalog_snapshot,
            "env_version": trace.env_version,
            "trace_schema_version": trace.schema_version,
            "accepted": trace.accepted,
            "reward": trace.reward,
            "reward_components": dict(trace.reward_components),
            "lessons": total_lessons,
            "rewriter": "offline",
        },
    )
    return Internalized(
        sample=sample,
        turns=turns,
        dropped_turns=dropped_turns,
        dropped_calls=dropped_calls,
        lessons=total_lessons,
        forbidden_texts=forbidden,
    )
