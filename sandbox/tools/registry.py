"""The tool registry: one place where an agent's tool call becomes a function call and a JSON observation.

A tool is a plain typed function (or bound method). Its OpenAI schema comes from the signature and docstring
(:func:`sandbox.tools.schema.function_schema`), its arguments are checked by the same signature
(:func:`sandbox.tools.schema.validate_arguments`), and every tool is tagged ``read`` (looks things up) or
``write`` (commits a final answer). :meth:`ToolRegistry.call` never raises for anything the agent can send:
unknown tools, bad JSON, wrong types and domain errors all come back as a :class:`ToolOutcome` whose ``content``
is the JSON text the agent reads (``{"error": ...}`` naming the tool, the field and what was expected).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from sandbox.catalog.errors import SnapshotError
from sandbox.tools.schema import function_schema, validate_arguments

_log = logging.getLogger(__name__)

Access = Literal["read", "write"]

ErrorKind = Literal[
    "unknown_tool",
    "malformed_call",
    "bad_json",
    "bad_arguments",
    "invalid_arguments",
    "tool_error",
    "unknown_product_id",
    "not_executed",
    "internal_error",
]

MAX_ARGUMENT_CHARS = 100_000
"""Raw argument text longer than this is refused before parsing (a 10 MB string is an error, not a query)."""


class ToolError(Exception):
    """A failure the agent can fix (a mode the backend lacks, an expression that is not arithmetic, ...).

    The message is shown to the agent verbatim, so it must say what was wrong and what to do instead.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ToolResult(BaseModel):
    """Base of every typed tool result. ``partial_error`` marks a result that is partly an error.

    ``visit_product`` with one unknown id among three known ones still returns the three records, but the
    call counts as an error (the agent asked for something that does not exist).
    """

    def partial_error(self) -> tuple[ErrorKind, str] | None:
        return None

    def to_content(self) -> str:
        """The observation text of this result: compact JSON without unset fields."""
        return self.model_dump_json(exclude_none=True)


@dataclass(frozen=True)
class Tool:
    """A function the agent may call, with its OpenAI schema and read/write tag."""

    name: str
    fn: Callable[..., Any]
    access: Access
    schema: dict[str, Any] = field(repr=False)

    @classmethod
    def from_function(cls, fn: Callable[..., Any], access: Access, *, name: str | None = None) -> Tool:
        tool_name: str = name or getattr(fn, "__name__", None) or type(fn).__name__
        return cls(name=tool_name, fn=fn, access=access, schema=function_schema(fn, name=tool_name))


class ToolOutcome(BaseModel):
    """What one tool call produced: the observation text and, for the env and supervisor, the typed result."""

    model_config = {"arbitrary_types_allowed": True}

    name: str
    arguments: dict[str, Any] | None = None
    ok: bool
    content: str
    error_kind: ErrorKind | None = None
    error: str | None = None
    access: Access | None = None
    result: Any = None


def _error_content(tool: str, message: str, kind: ErrorKind, **extra: Any) -> str:
    payload: dict[str, Any] = {"error": message, "error_kind": kind, "tool": tool, **extra}
    return json.dumps(payload, ensure_ascii=False)


def _describe_validation_error(tool: str, exc: ValidationError) -> str:
    """One line per problem: which argument, what was wrong, what the schema expects."""
    parts = []
    for err in exc.errors(include_url=False)[:8]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(arguments)"
        value = err.get("input")
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        kind = err.get("type", "")
        if kind == "missing":
            parts.append(f"argument {loc!r} is required")
        elif kind == "extra_forbidden":
            parts.append(f"argument {loc!r} is not a parameter of {tool}")
        else:
            parts.append(f"argument {loc!r}: {err.get('msg', 'invalid')} (got {shown})")
    more = len(exc.errors()) - 8
    if more > 0:
        parts.append(f"... and {more} more problems")
    return f"invalid arguments for {tool}: " + "; ".join(parts)


class ToolRegistry:
    """An ordered set of tools; the order is the order of the schemas the agent sees."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool:
        return self._tools[name]

    def access(self, name: str) -> Access | None:
        tool = self._tools.get(name)
        return tool.access if tool else None

    def schemas(self) -> list[dict[str, Any]]:
        """Fresh copies of every tool's OpenAI schema (callers may keep or modify them)."""
        return [copy.deepcopy(tool.schema) for tool in self._tools.values()]

    # -- calling ------------------------------------------------------------------------------------------------

    def parse_arguments(
        self, name: str, arguments: str | Mapping[str, Any] | None
    ) -> dict[str, Any] | ToolOutcome:
        """Raw arguments (JSON text or a mapping) as a dict, or the error outcome explaining why not."""
        if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
            return {}
        if isinstance(arguments, Mapping):
            return dict(arguments)
        if not isinstance(arguments, str):
            message = (
                f"arguments of {name} must be a JSON object (or its text), got {type(arguments).__name__}"
            )
            return self.fail(name, None, "bad_arguments", message)
        if len(arguments) > MAX_ARGUMENT_CHARS:
            message = (
                f"arguments of {name} are {len(arguments)} characters long; the limit is {MAX_ARGUMENT_CHARS}"
            )
            return self.fail(name, None, "bad_arguments", message)
        try:
            parsed = json.loads(arguments)
        except (json.JSONDecodeError, RecursionError) as exc:
            detail = (
                f"{exc.msg} at line {exc.lineno} column {exc.colno}"
                if isinstance(exc, json.JSONDecodeError)
                else str(exc)
            )
            message = f'arguments of {name} are not valid JSON ({detail}); send a JSON object such as {{"query": "..."}}'
            return self.fail(name, None, "bad_json", message)
        if not isinstance(parsed, dict):
            message = f"arguments of {name} must be a JSON object, got a JSON {type(parsed).__name__}"
            return self.fail(name, None, "bad_arguments", message)
        return parsed

    def call(self, name: Any, arguments: str | Mapping[str, Any] | None) -> ToolOutcome:
        """Run one tool call; every failure the agent can cause comes back as an error outcome."""
        if not isinstance(name, str) or name not in self._tools:
            shown = name if isinstance(name, str) else repr(name)
            if isinstance(shown, str) and len(shown) > 80:
                shown = shown[:77] + "..."
            message = f"unknown tool {shown!r}; available tools: {', '.join(self._tools)}"
            return self.fail(str(shown), None, "unknown_tool", message)
        tool = self._tools[name]
        parsed = self.parse_arguments(name, arguments)
        if isinstance(parsed, ToolOutcome):
            return parsed
        try:
            kwargs = validate_arguments(tool.fn, parsed)
        except ValidationError as exc:
            return self.fail(name, parsed, "invalid_arguments", _describe_validation_error(name, exc))
        except (TypeError, ValueError, RecursionError) as exc:
            return self.fail(name, parsed, "invalid_arguments", f"invalid arguments for {name}: {exc}")
        try:
            result = tool.fn(**kwargs)
        except ToolError as exc:
            extra = {"field": exc.field} if exc.field else {}
            return self.fail(name, parsed, "tool_error", f"{name}: {exc}", access=tool.access, **extra)
        except (
            SnapshotError
        ) as exc:  # a damaged catalog is the operator's problem, never the agent's arguments
            _log.error("%s: %s", name, exc.one_line())
            message = (
                f"{name} failed: the catalog snapshot is damaged (the operator must rebuild it); "
                "your arguments were not the cause"
            )
            return self.fail(name, parsed, "internal_error", message, access=tool.access)
        except ValidationError as exc:
            return self.fail(name, parsed, "invalid_arguments", _describe_validation_error(name, exc))
        except Exception as exc:  # a bug in a tool must not end the episode; it is counted separately
            message = f"{name} failed unexpectedly ({type(exc).__name__}: {exc}); try different arguments"
            return self.fail(name, parsed, "internal_error", message, access=tool.access)
        return self._succeed(name, parsed, tool.access, result)

    @staticmethod
    def _succeed(name: str, arguments: dict[str, Any], access: Access, result: Any) -> ToolOutcome:
        if isinstance(result, ToolResult):
            content = result.to_content()
        elif isinstance(result, BaseModel):
            content = result.model_dump_json(exclude_none=True)
        else:
            content = json.dumps(result, ensure_ascii=False, default=str)
        partial = result.partial_error() if isinstance(result, ToolResult) else None
        if partial is not None:
            kind, message = partial
            return ToolOutcome(
                name=name,
                arguments=arguments,
                ok=False,
                content=content,
                error_kind=kind,
                error=message,
                access=access,
                result=result,
            )
        return ToolOutcome(
            name=name, arguments=arguments, ok=True, content=content, access=access, result=result
        )

    @staticmethod
    def fail(
        name: str,
        arguments: dict[str, Any] | None,
        kind: ErrorKind,
        message: str,
        access: Access | None = None,
        **extra: Any,
    ) -> ToolOutcome:
        return ToolOutcome(
            name=name,
            arguments=arguments,
            ok=False,
            content=_error_content(name, message, kind, **extra),
            error_kind=kind,
            error=message,
            access=access,
        )
