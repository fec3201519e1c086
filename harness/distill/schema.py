"""Tool schemas that chat templates can print: pydantic's ``$ref`` / ``$defs`` inlined, ``anyOf [X, null]`` as X.

The env's tool schemas come from pydantic (``model_json_schema``): nested models live under ``$defs`` and are
referenced with ``$ref``, and every optional argument is ``anyOf: [X, {"type": "null"}]`` with ``default: null``.
Templates that print schemas verbatim (Qwen, GLM, Llama put ``tools | tojson`` into the prompt) then show the
model a reference it has to resolve and a union it never needs; templates that walk ``properties`` and read
``type`` (gpt-oss's TypeScript-style namespace) find no ``type`` at all on those properties. The simplified
schema says the same thing in the subset of JSON Schema every template handles: a property that may be left
out is simply not ``required``, so the ``null`` branch and its ``default: null`` go.

Argument objects are simplified to match: a ``null`` for an optional argument means "not given", so
:func:`drop_null_arguments` removes such keys (the env reads a missing key and a null one the same way).
"""

from __future__ import annotations

import copy
from typing import Any

_REF_PREFIXES = ("#/$defs/", "#/definitions/")


class SchemaError(ValueError):
    """A ``$ref`` that does not point into the schema's own ``$defs`` (or a reference cycle)."""


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def _resolve(ref: str, defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    for prefix in _REF_PREFIXES:
        if ref.startswith(prefix):
            name = ref[len(prefix) :]
            break
    else:
        raise SchemaError(f"$ref {ref!r}: only local references into $defs can be inlined")
    if name not in defs:
        raise SchemaError(f"$ref {ref!r}: no such entry in $defs (have: {', '.join(sorted(defs)) or 'none'})")
    if name in seen:
        raise SchemaError(f"$ref {ref!r}: recursive schema ({' -> '.join((*seen, name))}) cannot be inlined")
    return _simplify(copy.deepcopy(defs[name]), defs, (*seen, name))


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay``'s keys on top (a property's own description beats its model's docstring)."""
    out = dict(base)
    out.update(overlay)
    return out


def _simplify(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_simplify(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    node.pop("$defs", None)
    node.pop("definitions", None)
    if "$ref" in node:
        target = _resolve(str(node.pop("$ref")), defs, seen)
        node = _merge(target, {k: _simplify(v, defs, seen) for k, v in node.items()})
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list):
            kept = [b for b in branches if not _is_null(b)]
            if len(kept) < len(branches) and node.get("default", ...) is None:
                node.pop("default")
            if len(kept) == 1:
                node.pop(key)
                node = _merge(_simplify(kept[0], defs, seen), node)
            else:
                node[key] = kept
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        only = node.pop("allOf")[0]
        node = _merge(_simplify(only, defs, seen), node)
    if isinstance(node.get("type"), list) and "null" in node["type"]:
        types = [t for t in node["type"] if t != "null"]
        node["type"] = types[0] if len(types) == 1 else types
        if node.get("default", ...) is None:
            node.pop("default")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _simplify(sub, defs, seen) for name, sub in value.items()}
        else:
            out[key] = _simplify(value, defs, seen)
    return out


def simplify_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every local ``$ref`` inlined, ``$defs`` removed and nullable unions reduced (a new dict).

    Raises :class:`SchemaError` for a reference outside the schema or a recursive model, which cannot be
    written without ``$ref``.
    """
    defs = dict(schema.get("$defs") or {})
    defs.update(schema.get("definitions") or {})
    return _simplify(copy.deepcopy(schema), defs, ())


def simplify_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI tool specs with simplified ``function.parameters`` (see :func:`simplify_schema`)."""
    out = copy.deepcopy(tools)
    for tool in out:
        function = tool.get("function")
        if isinstance(function, dict) and isinstance(function.get("parameters"), dict):
            try:
                function["parameters"] = simplify_schema(function["parameters"])
            except SchemaError as exc:
                raise SchemaError(f"tool {function.get('name')!r}: {exc}") from None
    return out


def drop_null_arguments(value: Any, schema: dict[str, Any] | None = None) -> Any:
    """``value`` without object keys whose value is ``null`` (at any depth), except keys ``schema`` (the
    simplified schema of ``value``, if given) lists as ``required``: those keep their ``null``, so a call the
    validator rejected stays rejected. Lists keep their ``null`` items."""
    if isinstance(value, dict):
        schema = schema if isinstance(schema, dict) else {}
        required = set(schema.get("required") or [])
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        return {
            k: drop_null_arguments(v, properties.get(k))
            for k, v in value.items()
            if v is not None or k in required
        }
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        return [drop_null_arguments(v, items) for v in value]
    return value
