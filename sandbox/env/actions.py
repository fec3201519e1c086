"""Turning whatever the agent sends into one assistant turn: text plus an ordered list of tool calls.

Accepted forms (DESIGN section 5):

* an OpenAI assistant message ``{"role": "assistant", "content": ..., "tool_calls": [{"id", "type": "function",
  "function": {"name", "arguments"}}]}`` (``arguments`` as JSON text or an object; ``content`` as text or a list
  of ``{"type": "text", "text": ...}`` parts);
* a JSON tool call ``{"name": ..., "arguments": {...}}`` (as a dict or as JSON text), or a list of them;
* plain text, which may embed Hermes/Qwen-style ``<tool_call>{...}</tool_call>`` blocks.

A string is read as JSON when, stripped, it starts with ``{`` or ``[``. Parsing never raises: a malformed action
becomes :attr:`ParsedAction.error`, a malformed tool-call entry becomes a :class:`ParsedCall` with ``error`` set
(answered by its own error tool message). Call ids the agent did not give (or gave twice) are generated as
``call_<step>_<n>`` so that every tool message answers exactly one call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

MAX_ACTION_CHARS = 200_000
MAX_CALLS_PER_TURN = 16
MAX_RECORDED_CHARS = 20_000
MAX_ID_CHARS = 100

_TOOL_CALL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)

ActionForm = Literal["message", "tool_call", "text", "invalid"]


class ParsedCall(BaseModel):
    call_id: str
    name: str
    arguments: Any = None
    error: str | None = None


class ParsedAction(BaseModel):
    form: ActionForm
    content: str | None = None
    reasoning: str | None = None
    calls: list[ParsedCall] = Field(default_factory=list)
    error: str | None = None

    def assistant_message(self) -> dict[str, Any]:
        """The turn as it is recorded in the chat (OpenAI format, ``arguments`` as JSON text)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": _arguments_text(call.arguments)},
                }
                for call in self.calls
            ]
        return message


def _clip(text: str, limit: int = MAX_RECORDED_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters cut]"


def _arguments_text(arguments: Any) -> str:
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        return _clip(arguments)
    try:
        return _clip(json.dumps(arguments, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return _clip(repr(arguments))


def _shown(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # an object whose repr fails is still an action we must describe
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text_of(content: Any) -> tuple[str | None, str | None]:
    """``(text, error)`` for a message ``content``: a string, ``None`` or a list of text parts."""
    if content is None or isinstance(content, str):
        return content, None
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
            else:
                return None, f"content parts must be {{'type': 'text', 'text': ...}}, got {_shown(part)}"
        return "\n".join(texts), None
    return None, f"message content must be a string, got {type(content).__name__}"


class _Ids:
    """Hands out unique call ids for one turn, keeping the agent's when they are usable."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.used: set[str] = set()
        self.counter = 0

    def take(self, given: Any) -> str:
        if isinstance(given, str) and given.strip() and len(given) <= MAX_ID_CHARS and given not in self.used:
            self.used.add(given)
            return given
        while True:
            self.counter += 1
            candidate = f"call_{self.step}_{self.counter}"
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate


def _call_from(entry: Any, ids: _Ids, position: int) -> ParsedCall:
    """One tool-call entry in either OpenAI form (``function: {...}``) or flat form (``name``/``arguments``)."""
    if not isinstance(entry, Mapping):
        return ParsedCall(
            call_id=ids.take(None),
            name="(invalid)",
            error=f"tool call {position} must be an object, got {type(entry).__name__}",
        )
    call_id = ids.take(entry.get("id"))
    function = entry.get("function", entry)
    if not isinstance(function, Mapping):
        return ParsedCall(
            call_id=call_id, name="(invalid)", error=f"tool call {position}: 'function' must be an object"
        )
    name = function.get("name")
    arguments = function.get("arguments", function.get("parameters"))
    if not isinstance(name, str) or not name.strip():
        return ParsedCall(
            call_id=call_id,
            name="(invalid)" if not isinstance(name, str) else "(empty)",
            arguments=arguments,
            error=f"tool call {position} has no tool name (got {_shown(name)})",
        )
    return ParsedCall(call_id=call_id, name=_clip(name.strip(), 100), arguments=arguments)


def _calls_from(entries: list[Any], ids: _Ids) -> list[ParsedCall]:
    calls = [_call_from(entry, ids, i) for i, entry in enumerate(entries[:MAX_CALLS_PER_TURN], 1)]
    for _ in range(MAX_CALLS_PER_TURN, len(entries)):
        calls.append(
            ParsedCall(
                call_id=ids.take(None),
                name="(skipped)",
                error=f"not executed: at most {MAX_CALLS_PER_TURN} tool calls per turn ({len(entries)} given)",
            )
        )
    return calls


def _from_mapping(action: Mapping[str, Any], ids: _Ids) -> ParsedAction:
    if "tool_calls" in action or "role" in action or "content" in action:
        role = action.get("role", "assistant")
        if role != "assistant":
            return ParsedAction(
                form="invalid", error=f"an action message must have role 'assistant', got {_shown(role)}"
            )
        content, error = _text_of(action.get("content"))
        if error:
            return ParsedAction(form="invalid", error=error)
        reasoning = action.get("reasoning_content")
        reasoning = _clip(reasoning) if isinstance(reasoning, str) and reasoning.strip() else None
        raw_calls = action.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            return ParsedAction(
                form="invalid",
                content=content,
                error=f"tool_calls must be a list, got {type(raw_calls).__name__}",
            )
        return ParsedAction(
            form="message",
            content=_clip(content) if content else content,
            reasoning=reasoning,
            calls=_calls_from(raw_calls, ids),
        )
    if "name" in action or "function" in action:
        return ParsedAction(form="tool_call", calls=[_call_from(action, ids, 1)])
    keys = ", ".join(sorted(str(k) for k in list(action)[:8]))
    return ParsedAction(
        form="invalid",
        error=f"a dict action must be an assistant message (role/content/tool_calls) or a tool call (name/arguments); "
        f"got keys: {keys or 'none'}",
    )


def _from_json_text(text: str, ids: _Ids) -> ParsedAction:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return ParsedAction(
            form="invalid",
            content=_clip(text),
            error=f"the action looks like JSON but does not parse ({msg}{where}); send a tool call as "
            '{"name": "<tool>", "arguments": {...}} or plain text',
        )
    if isinstance(value, Mapping):
        parsed = _from_mapping(value, ids)
    elif isinstance(value, list):
        parsed = (
            ParsedAction(form="tool_call", calls=_calls_from(value, ids))
            if value
            else ParsedAction(form="invalid", error="the action is an empty JSON list")
        )
    else:
        parsed = ParsedAction(
            form="invalid", error=f"a JSON action must be an object, got {type(value).__name__}"
        )
    if parsed.form == "invalid" and parsed.content is None:
        parsed.content = _clip(text)
    return parsed


def _from_text(text: str, ids: _Ids) -> ParsedAction:
    blocks = _TOOL_CALL_BLOCK.findall(text)
    if not blocks:
        return ParsedAction(form="text", content=_clip(text))
    calls = []
    for position, block in enumerate(blocks[: MAX_CALLS_PER_TURN + 1], 1):
        try:
            entry = json.loads(block)
        except (json.JSONDecodeError, RecursionError):
            calls.append(
                ParsedCall(
                    call_id=ids.take(None),
                    name="(invalid)",
                    error=f"<tool_call> block {position} is not valid JSON",
                )
            )
            continue
        calls.append(_call_from(entry, ids, position))
    if len(blocks) > MAX_CALLS_PER_TURN:
        calls = calls[:MAX_CALLS_PER_TURN]
    rest = _TOOL_CALL_BLOCK.sub("", text).strip()
    return ParsedAction(form="message", content=_clip(rest) if rest else None, calls=calls)


def parse_action(action: Any, *, step: int) -> ParsedAction:
    """Parse one action (see the module docstring); never raises."""
    ids = _Ids(step)
    if isinstance(action, str):
        if len(action) > MAX_ACTION_CHARS:
            return ParsedAction(
                form="invalid",
                content=_clip(action),
                error=f"the action is {len(action)} characters long; the limit is {MAX_ACTION_CHARS}",
            )
        stripped = action.strip()
        if not stripped:
            return ParsedAction(
                form="invalid",
                content=action,
                error="the action is empty; write a plan, call a tool or submit",
            )
        if stripped[0] in "{[":
            return _from_json_text(stripped, ids)
        return _from_text(action, ids)
    if isinstance(action, Mapping):
        try:
            return _from_mapping(action, ids)
        except Exception as exc:  # a hostile Mapping (failing __getitem__ ...) is still just a bad action
            return ParsedAction(form="invalid", error=f"the action could not be read ({type(exc).__name__})")
    if isinstance(action, list):
        if not action:
            return ParsedAction(form="invalid", error="the action is an empty list")
        return ParsedAction(form="tool_call", calls=_calls_from(action, ids))
    return ParsedAction(
        form="invalid",
        content=_clip(_shown(action, 200)),
        error="an action must be an assistant message dict, a JSON tool call or text; "
        f"got {type(action).__name__}",
    )
