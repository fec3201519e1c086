"""Turning whatever the agent sends into one assistant turn: text plus an ordered list of tool calls.

Accepted forms (DESIGN section 5):

* an OpenAI assistant message ``{"role": "assistant", "content": ..., "tool_calls": [{"id", "type": "function",
  "function": {"name", "arguments"}}]}`` (``arguments`` as JSON text or an object; ``content`` as text or a list
  of ``{"type": "text", "text": ...}`` parts);
* a JSON tool call ``{"name": ..., "arguments": {...}}`` (as a dict or as JSON text), or a list of them;
* plain text, which may embed tool calls in the markup of a chat template (Hermes/Qwen ``<tool_call>``, Mistral
  ``[TOOL_CALLS]``, Llama ``<|python_tag|>``, Gemma-style ```` ```tool_code ```` fences, ```` ```json ```` fences,
  bare JSON call objects; see :mod:`sandbox.env.text_calls`). The same is read from the ``content`` of a message
  that has no ``tool_calls`` (a server without a tool parser returns the calls as text), and the form found is
  kept in :attr:`ParsedAction.text_call_format`.

A string is read as JSON when, stripped, it starts with ``{`` or ``[``. Parsing never raises: a malformed action
becomes :attr:`ParsedAction.error`, a malformed tool-call entry becomes a :class:`ParsedCall` with ``error`` set
(answered by its own error tool message). Call ids the agent did not give (or gave twice, or that are not safe
tokens: letters, digits, ``_ . : -``, at most 64 characters) are generated as ``call_<step>_<n>`` so that every tool
message answers exactly one call and no header can carry agent text.

Limits, all enforced with work proportional to the action's size (an RL policy will find any super-linear path):
at most :data:`MAX_ACTION_CHARS` characters; ``<tool_call>`` blocks are found by a linear scan and only the first
:data:`MAX_CALLS_PER_TURN` are parsed; calls beyond that limit (however many) are answered by *one* summary error
call; Python-object arguments are copied into plain JSON data at most :data:`MAX_ARGUMENT_DEPTH` levels deep.
Every string is cleaned to valid UTF-8 (lone surrogates become U+FFFD) and the count is kept in
:attr:`ParsedAction.replaced_chars`.
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from sandbox.env.text_calls import (  # noqa: F401  (scan_blocks is re-exported)
    MISTRAL_TAG,
    TextCallFormat,
    TextCalls,
    find_text_calls,
    scan_blocks,
)
from sandbox.safety.quoting import is_safe_token, quote_data
from sandbox.safety.text import DataLimitError, JsonCleaner, clean_text, has_escaped_surrogate

MAX_ACTION_CHARS = 200_000
MAX_CALLS_PER_TURN = 16
MAX_RECORDED_CHARS = 20_000
MAX_ID_CHARS = 64
MAX_ARGUMENT_DEPTH = 24
MAX_ARGUMENT_VALUES = 20_000

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
    replaced_chars: int = 0
    """Lone surrogates replaced by U+FFFD while reading the action (0 for clean text)."""
    scanned_chars: int = 0
    """Characters the ``<tool_call>`` scanner examined (at most twice the text's length)."""
    text_call_format: TextCallFormat | None = None
    """The markup the tool calls were written in when they came as text (``hermes``, ``tool_code``, ...)."""

    def assistant_message(self) -> dict[str, Any]:
        """The turn as it is recorded in the chat (OpenAI format, ``arguments`` as JSON text).

        A turn with tool calls and no text has ``content: ""``, not ``null``: several servers (llama-cpp-python,
        Ollama) refuse ``null`` when the chat is sent back, and every server accepts ``""``."""
        content = "" if self.content is None and self.calls else self.content
        message: dict[str, Any] = {"role": "assistant", "content": content}
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
    try:  # cleaned arguments are plain JSON data of bounded depth (see _clean_arguments)
        return _clip(json.dumps(arguments, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return "{}"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 4, 4


def _shown(value: Any, limit: int = 60) -> str:
    """A short description of an agent value; bounded work, and never calls into a failing ``__repr__``."""
    try:
        text = _REPR.repr(value)
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
        if is_safe_token(given) and given not in self.used:
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
            error=f"tool call {position} has no tool name (got {_shown(name)})",
        )
    name = name.strip()
    if not is_safe_token(name):
        return ParsedCall(
            call_id=call_id,
            name="(invalid)",
            error=f"tool call {position}: {quote_data(name, 60)} is not a tool name (tool names use letters, "
            f"digits, '_', '.', ':' and '-', at most {MAX_ID_CHARS} characters)",
        )
    return ParsedCall(call_id=call_id, name=name, arguments=arguments)


def _over_limit(ids: _Ids, given: int) -> ParsedCall:
    """The one call that answers every call beyond the per-turn limit, however many there were."""
    extra = given - MAX_CALLS_PER_TURN
    return ParsedCall(
        call_id=ids.take(None),
        name="(skipped)",
        error=f"not executed: {extra} tool call{'s' if extra != 1 else ''} beyond the limit of "
        f"{MAX_CALLS_PER_TURN} per turn ({given} given); send at most {MAX_CALLS_PER_TURN} calls per turn",
    )


def _calls_from(entries: list[Any], ids: _Ids) -> list[ParsedCall]:
    calls = [_call_from(entry, ids, i) for i, entry in enumerate(entries[:MAX_CALLS_PER_TURN], 1)]
    if len(entries) > MAX_CALLS_PER_TURN:
        calls.append(_over_limit(ids, len(entries)))
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
        if not raw_calls and content and len(content) <= MAX_ACTION_CHARS:
            found = find_text_calls(content, MAX_CALLS_PER_TURN)
            if found is not None:
                parsed = _from_found(found, ids)
                parsed.reasoning = reasoning
                return parsed
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
    found = find_text_calls(text, MAX_CALLS_PER_TURN)
    if found is None:
        return ParsedAction(form="text", content=_clip(text), scanned_chars=len(text))
    return _from_found(found, ids)


def _from_found(found: TextCalls, ids: _Ids) -> ParsedAction:
    """The turn made of calls found in assistant text (:mod:`sandbox.env.text_calls`)."""
    calls = []
    for position, entry in enumerate(found.entries, 1):
        if entry.call is None:
            calls.append(ParsedCall(call_id=ids.take(None), name="(invalid)", error=entry.error))
        else:
            calls.append(_call_from(entry.call, ids, position))
    if found.count > MAX_CALLS_PER_TURN:
        calls.append(_over_limit(ids, found.count))
    rest = found.rest.strip()
    return ParsedAction(
        form="message",
        content=_clip(rest) if rest else None,
        calls=calls,
        scanned_chars=found.scanned,
        text_call_format=found.format,
    )


def _clean_arguments(call: ParsedCall) -> int:
    """Make ``call.arguments`` plain, valid-UTF-8 JSON data (or JSON text); returns surrogates replaced.

    A call whose arguments are not JSON data, nest too deeply or are too large gets ``error`` set instead.
    """
    arguments = call.arguments
    if arguments is None or call.error is not None:
        return 0
    if isinstance(arguments, str):
        text, replaced = clean_text(str.__str__(arguments))
        call.arguments = text
        if has_escaped_surrogate(text) and len(text) <= MAX_ARGUMENT_CHARS_TO_DECODE:
            try:
                decoded = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                return replaced
            cleaner = JsonCleaner(max_depth=MAX_ARGUMENT_DEPTH, max_values=MAX_ARGUMENT_VALUES)
            try:
                call.arguments = cleaner.clean(decoded)
            except DataLimitError:
                return replaced
            replaced += cleaner.replaced
        return replaced
    cleaner = JsonCleaner(
        max_depth=MAX_ARGUMENT_DEPTH, max_values=MAX_ARGUMENT_VALUES, max_chars=MAX_ACTION_CHARS
    )
    try:
        call.arguments = cleaner.clean(arguments)
    except DataLimitError as exc:
        call.arguments = None
        call.error = f"the arguments of {call.name} are not usable: {exc}; send a JSON object"
    return cleaner.replaced


MAX_ARGUMENT_CHARS_TO_DECODE = 100_000


def _clean_action(parsed: ParsedAction) -> ParsedAction:
    """Valid UTF-8 in every string of the parsed action; the replacements are added up."""
    replaced = 0
    for attr in ("content", "reasoning", "error"):
        value = getattr(parsed, attr)
        if value is not None:
            value, n = clean_text(value)
            setattr(parsed, attr, value)
            replaced += n
    for call in parsed.calls:
        replaced += _clean_arguments(call)
        if call.error is not None:
            call.error, n = clean_text(call.error)
            replaced += n
    parsed.replaced_chars += replaced
    return parsed


def parse_action(action: Any, *, step: int) -> ParsedAction:
    """Parse one action (see the module docstring); never raises."""
    try:
        parsed = _parse(action, _Ids(step))
    except (
        Exception
    ) as exc:  # a hostile object (failing __getitem__, __iter__, ...) is still just a bad action
        parsed = ParsedAction(form="invalid", error=f"the action could not be read ({type(exc).__name__})")
    return _clean_action(parsed)


def _parse(action: Any, ids: _Ids) -> ParsedAction:
    if isinstance(action, str):
        action = str.__str__(action)
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
        if stripped[0] in "{[" and not stripped.startswith(MISTRAL_TAG):
            return _from_json_text(stripped, ids)
        return _from_text(action, ids)
    if isinstance(action, Mapping):
        return _from_mapping(action, ids)
    if isinstance(action, (list, tuple)):
        if not action:
            return ParsedAction(form="invalid", error="the action is an empty list")
        return ParsedAction(form="tool_call", calls=_calls_from(list(action), ids))
    return ParsedAction(
        form="invalid",
        content=_clip(_shown(action, 200)),
        error="an action must be an assistant message dict, a JSON tool call or text; "
        f"got {type(action).__name__}",
    )
