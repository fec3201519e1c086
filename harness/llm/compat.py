"""What each kind of OpenAI-compatible server accepts, and the request shapes that follow from it.

"OpenAI-compatible" servers differ in the details that decide whether a multi-turn tool conversation works at
all (measured against llama-cpp-python 0.3.36 and read from the servers' request models):

- ``content: null`` beside ``tool_calls`` is valid OpenAI, but llama-cpp-python answers it with HTTP 500 ("Input
  should be a valid string") and Ollama drops the turn; ``""`` is accepted everywhere.
- Grammar-constrained servers (llama.cpp, Ollama, SGLang and vLLM with guided decoding) compile the tool schema
  into a grammar: ``maxLength: 30000`` becomes 30,000 repeated rules (llama.cpp segfaults), a long ``enum`` or a
  ``pattern`` grows it too. Those limits are the env's to enforce (it validates every call against the full
  schema and answers a violation as an observation), so the model is shown the schema without them, with the
  limit said in the description instead.
- llama-cpp-python's ``chatml-function-calling`` ignores ``tools`` unless ``tool_choice`` is sent, so
  ``tool_choice: "auto"`` goes with every request that carries tools (unless the caller chose another).
- Local servers (llama.cpp, Ollama) evaluate the prompt at tens to hundreds of tokens per second on a CPU, so
  their timeouts grow with the prompt (:meth:`CompatProfile.timeout_for`).

A profile is picked per endpoint with ``compat`` in :class:`~harness.llm.config.LLMConfig`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

CompatName = Literal["openai", "vllm", "sglang", "llamacpp", "ollama"]

#: Size limits at or below these stay in the schema the model sees (they cost a grammar little).
MAX_SHOWN_LENGTH = 64
MAX_SHOWN_ENUM = 32
_LENGTH_KEYS = ("maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties")
#: Characters per token used to estimate a prompt's size before sending it (a conservative English average).
CHARS_PER_TOKEN = 3.5


class CompatProfile(BaseModel):
    """How to talk to one kind of server."""

    model_config = ConfigDict(frozen=True)

    name: CompatName
    null_content_with_tool_calls: bool
    """The server accepts ``content: null`` in an assistant turn that has tool calls."""
    tool_choice_auto: bool = True
    """Send ``tool_choice: "auto"`` with tools when the caller set none."""
    local: bool = False
    """A server on this machine's CPU: the attempt timeout grows with the prompt."""
    prompt_tokens_per_s: float = 50.0
    """Slowest prompt evaluation to allow for when :attr:`local` (measured 62-197 tokens/s for a 270M model on a
    loaded 2-core machine)."""

    def timeout_for(self, base_s: float, prompt_tokens: int) -> float:
        """The attempt deadline for a prompt of ``prompt_tokens``: ``base_s``, plus the prompt's evaluation time
        at :attr:`prompt_tokens_per_s` for local servers."""
        if not self.local:
            return base_s
        return base_s + prompt_tokens / self.prompt_tokens_per_s


PROFILES: dict[str, CompatProfile] = {
    "openai": CompatProfile(name="openai", null_content_with_tool_calls=True),
    "vllm": CompatProfile(name="vllm", null_content_with_tool_calls=True),
    "sglang": CompatProfile(name="sglang", null_content_with_tool_calls=False),
    "llamacpp": CompatProfile(name="llamacpp", null_content_with_tool_calls=False, local=True),
    "ollama": CompatProfile(name="ollama", null_content_with_tool_calls=False, local=True),
}


def profile(name: str) -> CompatProfile:
    """The profile called ``name``; ValueError listing the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"compat {name!r}: expected one of {', '.join(PROFILES)}") from None


def shape_messages(messages: Sequence[Mapping[str, Any]], compat: CompatProfile) -> list[Mapping[str, Any]]:
    """``messages`` as the server accepts them: an assistant turn with tool calls and ``content: null`` (or no
    content) gets ``""`` unless the profile accepts null. Messages that need no change are passed as they are."""
    if compat.null_content_with_tool_calls:
        return list(messages)
    out: list[Mapping[str, Any]] = []
    for message in messages:
        if message.get("tool_calls") and message.get("content") is None:
            message = {**message, "content": ""}
        out.append(message)
    return out


def shape_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tool schemas as the model is shown them: size limits above :data:`MAX_SHOWN_LENGTH`, enums longer
    than :data:`MAX_SHOWN_ENUM` and ``pattern`` removed (said in the description instead). The env still
    validates every call against the full schema."""
    shaped = []
    for tool in tools:
        tool = copy.deepcopy(dict(tool))
        function = tool.get("function")
        if isinstance(function, dict) and isinstance(function.get("parameters"), dict):
            function["parameters"] = _relax(function["parameters"])
        shaped.append(tool)
    return shaped


def _relax(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_relax(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in schema.items():
        if key in _LENGTH_KEYS and isinstance(value, int) and value > MAX_SHOWN_LENGTH:
            notes.append(_WORDS[key].format(value))
            continue
        if key == "pattern" and isinstance(value, str):
            notes.append(f"must match {json.dumps(value)}")
            continue
        if key == "enum" and isinstance(value, list) and len(value) > MAX_SHOWN_ENUM:
            shown = ", ".join(json.dumps(v) for v in value[:8])
            notes.append(f"one of {len(value)} values such as {shown}")
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _relax(sub) for name, sub in value.items()}
        else:
            out[key] = _relax(value)
    if notes:
        description = str(out.get("description") or "").strip()
        hint = "(" + "; ".join(notes) + ")"
        out["description"] = f"{description} {hint}".strip()
    return out


_WORDS = {
    "maxLength": "at most {} characters",
    "minLength": "at least {} characters",
    "maxItems": "at most {} items",
    "minItems": "at least {} items",
    "maxProperties": "at most {} properties",
    "minProperties": "at least {} properties",
}


def estimate_tokens(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None) -> int:
    """A pessimistic token estimate of a request (:data:`CHARS_PER_TOKEN` characters per token, plus a few tokens
    of framing per message), for timeouts and context budgets before the server has counted anything."""
    chars = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif content is not None:
            chars += len(json.dumps(content, default=str))
        for call in message.get("tool_calls") or []:
            chars += len(json.dumps(call, default=str)) if isinstance(call, Mapping) else 0
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str):
            chars += len(reasoning)
    if tools:
        chars += len(json.dumps(list(tools), default=str))
    return int(chars / CHARS_PER_TOKEN) + 4 * len(messages)
