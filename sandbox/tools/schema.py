"""OpenAI function-calling schemas and argument validation generated from plain typed Python functions.

Every agent tool (``web_search``, ``product_search``, ``calculate``, ...) is an ordinary function with type
annotations and a Google-style docstring. Deriving the schema from that one source means the JSON schema the
model sees, the validation of the arguments it sends back and the code that runs can never drift apart.

The description is the docstring's first paragraph; parameter descriptions come from its ``Args:`` section.
Types become JSON schema through pydantic, so ``list[str]``, ``Literal[...]``, ``X | None``, enums and pydantic
models all work, and :func:`validate_arguments` applies exactly the rules the schema advertises.
"""

from __future__ import annotations

import inspect
import re
import threading
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

_SECTION_HEADERS = {
    "args",
    "arguments",
    "parameters",
    "params",
    "returns",
    "return",
    "raises",
    "yields",
    "examples",
    "example",
    "notes",
    "note",
    "attributes",
    "see also",
}
_ARG_SECTIONS = {"args", "arguments", "parameters", "params"}
# "name (type, optional): text" or "name: text" -- the Google docstring convention for one argument.
_ARG_LINE = re.compile(r"^\s*\*{0,2}(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(?P<text>.*)$")


class _ParsedDoc(typing.NamedTuple):
    description: str
    params: dict[str, str]


def parse_docstring(doc: str | None) -> _ParsedDoc:
    """Split a Google-style docstring into its first paragraph and its ``Args:`` descriptions.

    Continuation lines (indented deeper than the argument line) are joined to the argument's text with spaces.
    """
    if not doc:
        return _ParsedDoc("", {})
    lines = inspect.cleandoc(doc).splitlines()
    first: list[str] = []
    for line in lines:
        if not line.strip():
            if first:
                break
            continue
        if line.strip().rstrip(":").lower() in _SECTION_HEADERS and line.strip().endswith(":"):
            break
        first.append(line.strip())
    params: dict[str, str] = {}
    in_args = False
    current: str | None = None
    arg_indent = 0
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        header = stripped.rstrip(":").lower()
        if stripped.endswith(":") and header in _SECTION_HEADERS and indent == 0:
            in_args = header in _ARG_SECTIONS
            current = None
            continue
        if not in_args or not stripped:
            continue
        if indent == 0:  # text back at the margin ends the section
            in_args = False
            current = None
            continue
        match = _ARG_LINE.match(line)
        if match and (current is None or indent <= arg_indent):
            current = match.group("name")
            arg_indent = indent
            params[current] = match.group("text").strip()
        elif current is not None:
            params[current] = f"{params[current]} {stripped}".strip()
    return _ParsedDoc(" ".join(first), params)


class _ArgumentsSpec(typing.NamedTuple):
    model: type[BaseModel]
    fields: dict[str, str]  # internal field name -> parameter name
    description: str


_SPECS: dict[tuple[Any, bool], _ArgumentsSpec] = {}
_SPECS_LOCK = threading.Lock()


def _spec(fn: Callable[..., Any]) -> _ArgumentsSpec:
    """The (cached) pydantic model of ``fn``'s parameters.

    Fields get neutral internal names with the parameter name as alias, so a parameter may be called ``schema``,
    ``json`` or ``model_x`` without clashing with pydantic's own attributes.
    """
    func = getattr(fn, "__func__", fn)
    key = (func, hasattr(fn, "__self__"))
    with _SPECS_LOCK:
        cached = _SPECS.get(key)
    if cached is not None:
        return cached
    name = getattr(fn, "__name__", type(fn).__name__)
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise TypeError(f"{name}: cannot resolve a type annotation ({exc})") from exc
    doc = parse_docstring(inspect.getdoc(fn))
    field_defs: dict[str, Any] = {}
    fields: dict[str, str] = {}
    for index, (param_name, param) in enumerate(signature.parameters.items()):
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(
                f"{name}: *args/**kwargs parameter {param_name!r} cannot be described by a schema"
            )
        if param_name not in hints:
            raise TypeError(
                f"{name}: parameter {param_name!r} needs a type annotation to appear in a tool schema"
            )
        default = ... if param.default is inspect.Parameter.empty else param.default
        internal = f"p{index}"
        fields[internal] = param_name
        field_defs[internal] = (
            hints[param_name],
            Field(default, alias=param_name, description=doc.params.get(param_name) or None),
        )
    model = create_model(
        f"{name}_arguments",
        __config__=ConfigDict(extra="forbid", populate_by_name=False, arbitrary_types_allowed=False),
        **field_defs,
    )
    spec = _ArgumentsSpec(model=model, fields=fields, description=doc.description)
    with _SPECS_LOCK:
        _SPECS[key] = spec
    return spec


def _strip_titles(node: Any) -> Any:
    """Drop pydantic's auto-generated ``title`` keys, which only add tokens to the model's prompt.

    Keys of a ``properties`` mapping are parameter names, not schema keywords, so a parameter named ``title``
    is kept.
    """
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in ("properties", "$defs") and isinstance(value, dict):
                out[key] = {name: _strip_titles(sub) for name, sub in value.items()}
            else:
                out[key] = _strip_titles(value)
        return out
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    return node


def function_schema(
    fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """The OpenAI tool schema ``{"type": "function", "function": {...}}`` of a typed function or bound method.

    Args:
        fn: The function; every parameter needs a type annotation, ``self`` of a bound method is skipped.
        name: Tool name shown to the model; defaults to the function's ``__name__``.
        description: Tool description; defaults to the docstring's first paragraph.
    """
    spec = _spec(fn)
    parameters = _strip_titles(spec.model.model_json_schema(by_alias=True))
    parameters.setdefault("properties", {})
    parameters.setdefault("required", [])
    parameters["type"] = "object"
    parameters["additionalProperties"] = False
    ordered = {
        "type": "object",
        "properties": parameters.pop("properties"),
        "required": parameters.pop("required"),
    }
    ordered.update({k: v for k, v in parameters.items() if k != "type"})
    return {
        "type": "function",
        "function": {
            "name": name or getattr(fn, "__name__", type(fn).__name__),
            "description": description if description is not None else spec.description,
            "parameters": ordered,
        },
    }


def validate_arguments(fn: Callable[..., Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """Check tool-call arguments against ``fn``'s signature and return keyword arguments ready for ``fn(**kw)``.

    Raises ``pydantic.ValidationError`` whose error locations name the offending parameter (unknown parameters
    are rejected, missing required ones reported). Values are converted as the schema promises: a JSON object
    for a pydantic-model parameter becomes that model, ``"3"`` for an ``int`` becomes ``3``.
    """
    spec = _spec(fn)
    validated = spec.model.model_validate(args, by_alias=True, by_name=False)
    return {param: getattr(validated, internal) for internal, param in spec.fields.items()}
