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
    """Every problem of ``sample`` (a dict with ``messages`` and ``tools``); empty when it is valid."""
    issues: list[Issue] = []
    messages = sample.get("messages")
    tools = sample.get("tools")
    if not isinstance(messages, list) or not messages:
        return [Issue(code="no_messages", where=-1, detail="expected a non-empty 'messages' list")]
    if not isinstance(tools, list):
        return [Issue(code="no_tools", where=-1, detail="expected a 'tools' list (OpenAI function schemas)")]
    schemas = _schemas(tools)
    seen_ids: set[str] = set()
    expected: list[str] = []  # tool results still owed, in order
    previous: str | None = None
    forbidden = [t for t in forbidden_texts if t and len(t) >= 20]
    cited: dict[str, int] = {}
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            issues.append(Issue(code="bad_message", where=index, detail="expected an object"))
            continue
        role = message.get("role")
        if role not in ROLES:
            issues.append(
                Issue(code="bad_role", where=index, detail=f"role {role!r}, expected one of {ROLES}")
            )
            continue
        name = message.get("name")
        if name in ("supervisor", "environment"):
            issues.append(Issue(code="supervisor_leak", where=index, detail=f"a message named {name!r}"))
        for text in _texts(message):
            folded = text.casefold()
            marker = next((m for m in _LEAK_MARKERS if m in folded), None)
            if marker is not None:
                issues.append(Issue(code="supervisor_leak", where=index, detail=f"text contains {marker!r}"))
            leaked = next((f for f in forbidden if f in text), None)
            if leaked is not None:
                issues.append(
                    Issue(code="supervisor_leak", where=index, detail=f"feedback text {leaked[:60]!r}...")
                )
            if role == "assistant":
                for pid in cited_product_ids(text):
                    cited.setdefault(pid, index)
        # -- role order --
        if role == "tool":
            if not expected:
                issues.append(
                    Issue(code="orphan_tool_result", where=index, detail="no pending tool call to answer")
                )
            else:
                want = expected.pop(0)
                got = message.get("tool_call_id")
                if got != want:
                    issues.append(
                        Issue(
                            code="tool_result_order",
                            where=index,
                            detail=f"tool_call_id {got!r}, expected {want!r} (results must follow call order)",
                        )
                    )
                body = _json_object(message.get("content"))
                if body is not None and "error" in body:
                    issues.append(
                        Issue(code="tool_error_result", where=index, detail=str(body.get("error"))[:200])
                    )
        else:
            if expected:
                issues.append(
                    Issue(
                        code="missing_tool_result",
                        where=index,
                        detail=f"calls {expected} have no tool message before this {role} message",
                    )
                )
                expected = []
            if role == "system" and index != 0:
                issues.append(Issue(code="role_order", where=index, detail="system message after the start"))
            if role == "user" and previous == "assistant" and messages[index - 1].get("tool_calls"):
                issues.append(
                    Issue(code="role_order", where=index, detail="user turn right after tool calls")
                )
            if role == "user" and previous == "user":
                issues.append(Issue(code="role_order", where=index, detail="two user turns in a row"))
            if role == "assistant":
                if previous in (None, "system"):
                    issues.append(
                        Issue(code="role_order", where=index, detail="assistant turn before any user turn")
                    )
                elif previous == "assistant":
                    issues.append(
                        Issue(
                            code="role_order",
                            where=index,
                            detail="two assistant turns in a row (the first has no tool calls to answer)",
                        )
                    )
                for call in message.get("tool_calls") or []:
                    call_id = _check_call(call, index, schemas, seen_ids, issues)
                    if call_id is not None:
                        expected.append(call_id)
        previous = role
    if expected:
        issues.append(
            Issue(
                code="missing_tool_result", where=len(messages), detail=f"calls {expected} are never answered"
            )
        )
    if messages and isinstance(messages[-1], Mapping) and messages[-1].get("role") != "assistant":
        issues.append(
            Issue(
                code="role_order",
                where=len(messages) - 1,
                detail="the sample must end with an assistant turn",
            )
        )
    check = catalog_check(catalog)
    if check is not None and cited:
        existing = check(list(cited))
        for pid, index in cited.items():
            if pid not in existing:
                issues.append(
                    Issue(
                        code="unknown_product",
                        where=index,
                        detail=f"[P:{pid}] is not in the catalog snapshot",
                    )
                )
    return issues


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
