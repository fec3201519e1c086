"""The training-sample validator: what must hold for a sample to be safe to train on.

* every assistant ``tool_call`` is answered by exactly one ``tool`` message with its id, in call order, right
  after the assistant turn; call ids are unique in the sample;
* ``arguments`` is a JSON object, or a JSON string of one (both forms are exported: ``--arguments``), that
  validates against the tool's JSON schema (from ``tools``);
* roles follow a legal order: optional system first, then a user turn, then assistant turns each followed by
  their tool results, user turns only after a turn without calls, ending with an assistant turn;
* no supervisor text: no message named ``supervisor``/``environment``, no ``[supervisor]``/``[environment]``
  marker or the word "supervisor" in any text, none of the trace's feedback messages verbatim;
* every product cited as ``[P:<id>]`` (in assistant text, reasoning or call arguments) exists in the catalog
  snapshot the episode ran against (a set of known ids, or a catalog backend).

:func:`validate_sample` returns the list of :class:`Issue` (empty = valid); :func:`check_sample` raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jsonschema
from pydantic import BaseModel

from sandbox.citations import cited_product_ids

ROLES = ("system", "user", "assistant", "tool")
_LEAK_MARKERS = ("[supervisor]", "[environment]", "supervisor")

CatalogCheck = Callable[[list[str]], set[str]]
"""Given cited ids, return those that exist in the catalog snapshot."""


class Issue(BaseModel):
    """One problem in a sample: a code, where (message index, -1 for the sample), and what was expected."""

    code: str
    where: int
    detail: str

    def __str__(self) -> str:
        place = "sample" if self.where < 0 else f"messages[{self.where}]"
        return f"{place}: {self.code}: {self.detail}"


class SampleValidationError(ValueError):
    """A sample failed validation; ``issues`` lists every problem."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("invalid training sample: " + "; ".join(str(i) for i in issues[:10]))


#: Issue codes that mean a tool call on the kept path is invalid (used by the filters).
CALL_ISSUES = frozenset(
    {
        "bad_arguments_json",
        "arguments_schema",
        "unknown_tool",
        "missing_tool_result",
        "tool_result_order",
        "duplicate_call_id",
        "orphan_tool_result",
        "bad_tool_call",
        "tool_error_result",
    }
)


def catalog_check(catalog: Collection[str] | Any | None) -> CatalogCheck | None:
    """A :data:`CatalogCheck` from a set of known ids or a ``CatalogBackend`` (``get_products``)."""
    if catalog is None:
        return None
    if hasattr(catalog, "get_products"):

        def by_backend(ids: list[str]) -> set[str]:
            found = catalog.get_products(ids)
            return {pid for pid, product in zip(ids, found, strict=True) if product is not None}

        return by_backend
    known = set(catalog)
    return lambda ids: {pid for pid in ids if pid in known}


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def _schemas(tools: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    out = {}
    for tool in tools:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            out[function["name"]] = json.dumps(
                function.get("parameters") or {"type": "object"}, sort_keys=True
            )
    return out


def _texts(message: Mapping[str, Any]) -> list[str]:
    out = []
    for key in ("content", "reasoning_content"):
        value = message.get(key)
        if isinstance(value, str):
            out.append(value)
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("arguments"), str):
            out.append(function["arguments"])
        elif isinstance(function, Mapping) and isinstance(function.get("arguments"), Mapping):
            out.append(json.dumps(function["arguments"], ensure_ascii=False))
    return out


def _check_call(
    call: Any, where: int, schemas: dict[str, str], seen_ids: set[str], issues: list[Issue]
) -> str | None:
    """Check one tool call; return its id (or ``None`` when it has no usable id)."""
    if not isinstance(call, Mapping) or not isinstance(call.get("function"), Mapping):
        issues.append(Issue(code="bad_tool_call", where=where, detail="expected {id, type, function}"))
        return None
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        issues.append(Issue(code="bad_tool_call", where=where, detail="tool call without a string id"))
        return None
    if call_id in seen_ids:
        issues.append(Issue(code="duplicate_call_id", where=where, detail=f"id {call_id!r} is used twice"))
    seen_ids.add(call_id)
    function = call["function"]
    name = function.get("name")
    if name not in schemas:
        issues.append(
            Issue(code="unknown_tool", where=where, detail=f"{name!r} is not in tools ({sorted(schemas)})")
        )
        return call_id
    arguments = function.get("arguments")
    if isinstance(arguments, Mapping):
        parsed: Any = dict(arguments)
    elif isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError as exc:
            issues.append(Issue(code="bad_arguments_json", where=where, detail=f"{name}: {exc}"))
            return call_id
    else:
        issues.append(
            Issue(
                code="bad_arguments_json",
                where=where,
                detail=f"{name}: arguments must be a JSON object or a JSON string of one",
            )
        )
        return call_id
    errors = sorted(_validator(schemas[name]).iter_errors(parsed), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.path) or "<arguments>"
        issues.append(
            Issue(code="arguments_schema", where=where, detail=f"{name}.{path}: {first.message[:200]}")
        )
    return call_id


def validate_sample(
    sample: Mapping[str, Any],
    *,
    catalog: Collection[str] | Any | None = None,
    forbidden_texts: Iterable[str] = (),
) -> list[Issue]:
    """Every problem of ``sample`` (a dict with ``messages`` and ``tools``); empty when it is valid.

    One pass over the messages (:class:`_SampleWalk`: leaks, then role order and tool calls per message), then
    the checks on the whole sample: unanswered calls, the last turn, and cited ids against the catalog.
    """
    messages = sample.get("messages")
    tools = sample.get("tools")
    if not isinstance(messages, list) or not messages:
        return [Issue(code="no_messages", where=-1, detail="expected a non-empty 'messages' list")]
    if not isinstance(tools, list):
        return [Issue(code="no_tools", where=-1, detail="expected a 'tools' list (OpenAI function schemas)")]
    walk = _SampleWalk(
        messages=messages,
        schemas=_schemas(tools),
        forbidden=[t for t in forbidden_texts if t and len(t) >= 20],
    )
    for index, message in enumerate(messages):
        walk.visit(index, message)
    walk.finish()
    walk.check_citations(catalog_check(catalog))
    return walk.issues


@dataclass
class _SampleWalk:
    """The state of one pass over a sample's messages: the issues found, the tool results still owed (in call
    order), the call ids seen, the previous role and the first message citing each product id."""

    messages: list[Any]
    schemas: dict[str, str]
    forbidden: list[str]
    issues: list[Issue] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    expected: list[str] = field(default_factory=list)
    previous: str | None = None
    cited: dict[str, int] = field(default_factory=dict)

    def add(self, code: str, where: int, detail: str) -> None:
        self.issues.append(Issue(code=code, where=where, detail=detail))

    def visit(self, index: int, message: Any) -> None:
        """Check one message: its shape and role, supervisor leaks and citations, then its place in the order."""
        if not isinstance(message, Mapping):
            self.add("bad_message", index, "expected an object")
            return
        role = message.get("role")
        if role not in ROLES:
            self.add("bad_role", index, f"role {role!r}, expected one of {ROLES}")
            return
        self.check_leaks(index, message, role)
        if role == "tool":
            self.check_tool_result(index, message)
        else:
            self.check_turn(index, message, role)
        self.previous = role

    def check_leaks(self, index: int, message: Mapping[str, Any], role: str) -> None:
        """Supervisor text must not reach training (by name, marker or verbatim feedback); assistant text's
        ``[P:<id>]`` citations are collected for the catalog check."""
        name = message.get("name")
        if name in ("supervisor", "environment"):
            self.add("supervisor_leak", index, f"a message named {name!r}")
        for text in _texts(message):
            folded = text.casefold()
            marker = next((m for m in _LEAK_MARKERS if m in folded), None)
            if marker is not None:
                self.add("supervisor_leak", index, f"text contains {marker!r}")
            leaked = next((f for f in self.forbidden if f in text), None)
            if leaked is not None:
                self.add("supervisor_leak", index, f"feedback text {leaked[:60]!r}...")
            if role == "assistant":
                for pid in cited_product_ids(text):
                    self.cited.setdefault(pid, index)

    def check_tool_result(self, index: int, message: Mapping[str, Any]) -> None:
        """A tool message answers the oldest pending call, by id; an error result is reported too."""
        if not self.expected:
            self.add("orphan_tool_result", index, "no pending tool call to answer")
            return
        want = self.expected.pop(0)
        got = message.get("tool_call_id")
        if got != want:
            self.add(
                "tool_result_order",
                index,
                f"tool_call_id {got!r}, expected {want!r} (results must follow call order)",
            )
        body = _json_object(message.get("content"))
        if body is not None and "error" in body:
            self.add("tool_error_result", index, str(body.get("error"))[:200])

    def check_turn(self, index: int, message: Mapping[str, Any], role: str) -> None:
        """A system, user or assistant turn: pending calls must be answered before it, and it must stand where
        its role may; an assistant turn's calls are checked and become the results owed next."""
        if self.expected:
            self.add(
                "missing_tool_result",
                index,
                f"calls {self.expected} have no tool message before this {role} message",
            )
            self.expected = []
        previous = self.previous
        if role == "system" and index != 0:
            self.add("role_order", index, "system message after the start")
        if role == "user" and previous == "assistant" and self.messages[index - 1].get("tool_calls"):
            self.add("role_order", index, "user turn right after tool calls")
        if role == "user" and previous == "user":
            self.add("role_order", index, "two user turns in a row")
        if role != "assistant":
            return
        if previous in (None, "system"):
            self.add("role_order", index, "assistant turn before any user turn")
        elif previous == "assistant":
            self.add(
                "role_order", index, "two assistant turns in a row (the first has no tool calls to answer)"
            )
        for call in message.get("tool_calls") or []:
            call_id = _check_call(call, index, self.schemas, self.seen_ids, self.issues)
            if call_id is not None:
                self.expected.append(call_id)

    def finish(self) -> None:
        """After the last message: no call may stay unanswered, and the sample ends with an assistant turn."""
        messages = self.messages
        if self.expected:
            self.add("missing_tool_result", len(messages), f"calls {self.expected} are never answered")
        last = messages[-1]
        if isinstance(last, Mapping) and last.get("role") != "assistant":
            self.add("role_order", len(messages) - 1, "the sample must end with an assistant turn")

    def check_citations(self, check: CatalogCheck | None) -> None:
        """Each cited id exists in the snapshot (one lookup for all of them), reported where first cited."""
        if check is None or not self.cited:
            return
        existing = check(list(self.cited))
        for pid, index in self.cited.items():
            if pid not in existing:
                self.add("unknown_product", index, f"[P:{pid}] is not in the catalog snapshot")


def _json_object(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def check_sample(sample: Mapping[str, Any], **kwargs: Any) -> None:
    """Raise :class:`SampleValidationError` when :func:`validate_sample` finds anything."""
    issues = validate_sample(sample, **kwargs)
    if issues:
        raise SampleValidationError(issues)
