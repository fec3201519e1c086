"""Tool calls written as text: what a model served without a tool-call parser emits instead of ``tool_calls``.

Chat templates teach models to write calls in their own markup; a server with the matching parser turns that into
``tool_calls``, but many local setups (llama.cpp without ``--jinja``, a ``chatml`` chat format, a fine-tune with a
new template) pass it through as assistant text. Without reading it the env would answer "no tool was called"
to every turn of such a model. The forms read here, tried in this order (the first that yields a call wins, and
the episode records its name):

``hermes``
    Hermes / Qwen: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, one block per call.
``mistral``
    Mistral: ``[TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...]`` (v3 tokenizers) or
    ``[TOOL_CALLS]name[ARGS]{...}`` repeated (v11 and later).
``python_tag``
    Llama 3.1+: ``<|python_tag|>`` then JSON objects ``{"name": ..., "parameters": {...}}`` separated by ``;``,
    or a Python call ``name.call(key=value)``; a trailing ``<|eom_id|>`` / ``<|eot_id|>`` is dropped.
``tool_code``
    Gemma-style fenced code: a ```` ```tool_code ```` (or ``tool_call`` / ``python``) block holding Python calls
    ``name(key=value, ...)`` or a list of them, or a JSON call.
``json_block``
    A fenced ```` ```json ```` (or unlabelled) block holding a JSON call or a list of calls.
``json``
    A bare JSON object with ``name`` and ``arguments`` (or ``parameters``), or a list of them, on its own line(s).

A JSON call is an object with a string ``name`` and ``arguments`` / ``parameters`` (an object or JSON text), or
``{"function": {...}}``. Python calls are read with :mod:`ast` (keyword values must be literals; ``true`` /
``false`` / ``null`` are accepted), never evaluated.

Markup that clearly announces a call (``<tool_call>``, ``[TOOL_CALLS]``, ``<|python_tag|>``, a ``tool_code``
fence) but does not parse becomes an error entry the env answers, so the model learns its call was malformed;
so does broken JSON that begins like a call (``{"name": "...", "arguments": ...``, :data:`CALL_START`) in a
``json`` fence or at the start of a line: small models write ``"price_max": 50 USD`` or run into ``max_tokens``
mid-call, and "no tool was called" would hide why. The error names the JSON fault, or says the JSON ends early.
JSON that merely appears in prose (a fenced example, an object without ``name``) stays prose, and so does text
after a complete call (models keep writing after their call).

Work is linear in the text: fences and markers are found with ``str.find`` from where the last search ended,
at most :data:`MAX_CALLS` calls are read, Python blocks over :data:`MAX_CODE_CHARS` are not parsed.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TextCallFormat = Literal["hermes", "mistral", "python_tag", "tool_code", "json_block", "json"]
FORMATS: tuple[TextCallFormat, ...] = ("hermes", "mistral", "python_tag", "tool_code", "json_block", "json")

MAX_CALLS = 16
MAX_CODE_CHARS = 20_000
OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
MISTRAL_TAG = "[TOOL_CALLS]"
MISTRAL_ARGS = "[ARGS]"
PYTHON_TAG = "<|python_tag|>"
END_TOKENS = ("<|eom_id|>", "<|eot_id|>", "<|end_of_text|>", "</s>", "<end_of_turn>")
FENCE = "```"
CODE_FENCES = frozenset({"tool_code", "tool_call", "tool_calls", "python", "py"})
JSON_FENCES = frozenset({"json", ""})
CALL_START = re.compile(r'\[?\s*\{\s*"name"\s*:\s*"([^"\\\n]{1,64})"\s*,\s*"(?:arguments|parameters)"\s*:')
"""How a JSON call written by a model begins: broken JSON that begins so is a failed call, not prose."""


@dataclass
class TextEntry:
    """One call found in the text: a ``{"name", "arguments"}`` dict, or ``error`` saying why it is unusable."""

    call: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class TextCalls:
    """The calls found in one assistant text, the form they were written in and the text around them."""

    format: TextCallFormat
    entries: list[TextEntry] = field(default_factory=list)
    count: int = 0
    """How many calls the text holds (entries keeps at most ``MAX_CALLS``)."""
    rest: str = ""
    scanned: int = 0


def find_text_calls(text: str, limit: int = MAX_CALLS) -> TextCalls | None:
    """The tool calls written in ``text`` (see the module docstring), or ``None`` when it is prose."""
    for finder in (_hermes, _mistral, _python_tag, _fenced, _bare_json):
        found = finder(text, limit)
        if found is not None and found.count:
            return found
    return None


# -- JSON calls ---------------------------------------------------------------------------------------------------


def json_call(value: Any) -> dict[str, Any] | None:
    """``{"name", "arguments"}`` when ``value`` is a JSON call object, else ``None``."""
    if not isinstance(value, Mapping):
        return None
    function = value.get("function")
    if isinstance(function, Mapping) and "name" in function:
        value = function
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    for key in ("arguments", "parameters", "args"):
        if key in value:
            arguments = value[key]
            break
    else:
        if set(value) - {"name", "id", "type"}:
            return None  # an object with a name but no arguments is data, not a call
        arguments = {}
    call: dict[str, Any] = {"name": name, "arguments": arguments}
    if isinstance(value.get("id"), str):
        call["id"] = value["id"]
    return call


def _json_calls(value: Any) -> list[dict[str, Any]] | None:
    """The calls in a decoded JSON value (one call or a list of calls), or ``None`` if it is not calls."""
    items = value if isinstance(value, list) else [value]
    calls = [json_call(item) for item in items]
    if not items or any(c is None for c in calls):
        return None
    return [c for c in calls if c is not None]


def _entries(calls: list[dict[str, Any]], limit: int) -> list[TextEntry]:
    return [TextEntry(call=c) for c in calls[:limit]]


# -- the forms ----------------------------------------------------------------------------------------------------


def scan_blocks(text: str, limit: int = MAX_CALLS) -> tuple[list[str], int, str, int]:
    """``(bodies, count, rest, scanned)``: the first ``limit`` ``<tool_call>`` bodies (stripped), how many blocks
    there are, the text outside them and how many characters the scan examined.

    Linear: each search starts where the previous one ended and a block with no closing tag ends the scan, so no
    character is examined more than twice (the regex it replaces was quadratic on ``"<tool_call>" * n``). A body
    runs to the first closing tag after its opening tag, as with a non-greedy regex.
    """
    bodies: list[str] = []
    outside: list[str] = []
    count = scanned = pos = 0
    while True:
        start = text.find(OPEN_TAG, pos)
        if start < 0:
            scanned += len(text) - pos
            break
        end = text.find(CLOSE_TAG, start + len(OPEN_TAG))
        if end < 0:
            scanned += len(text) - pos
            break
        scanned += end + len(CLOSE_TAG) - pos
        outside.append(text[pos:start])
        count += 1
        if len(bodies) < limit:
            bodies.append(text[start + len(OPEN_TAG) : end].strip())
        pos = end + len(CLOSE_TAG)
    outside.append(text[pos:])
    return bodies, count, "".join(outside), scanned


def _hermes(text: str, limit: int) -> TextCalls | None:
    if OPEN_TAG not in text:
        return None
    bodies, count, rest, scanned = scan_blocks(text, limit)
    entries = [_json_entry(body, f"<tool_call> block {n}") for n, body in enumerate(bodies, 1)]
    return TextCalls("hermes", entries, count, rest, scanned)


def json_fault(exc: json.JSONDecodeError | RecursionError, text: str) -> str:
    """What is wrong with JSON ``text``: where it breaks, or that it ends early (a reply cut at max_tokens)."""
    if isinstance(exc, RecursionError):
        return "not valid JSON (nested too deeply)"
    if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):  # no closing quote after
        return "incomplete JSON (the text ends inside it: cut off by max_tokens?)"
    return f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"


def _json_entry(body: str, where: str) -> TextEntry:
    """One call from JSON text that was announced as a call (an error entry when it is not one)."""
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        return TextEntry(error=f"{where} is {json_fault(exc, body)}")
    if isinstance(value, Mapping) and "name" in value and not isinstance(value.get("function"), Mapping):
        return TextEntry(call=dict(value))  # the env names what is wrong with it (no name, bad arguments)
    call = json_call(value)
    if call is None:
        return TextEntry(error=f'{where} is not a call {{"name": ..., "arguments": {{...}}}}')
    return TextEntry(call=call)


def _mistral(text: str, limit: int) -> TextCalls | None:
    start = text.find(MISTRAL_TAG)
    if start < 0:
        return None
    prose = text[:start]
    body = _strip_end_tokens(text[start + len(MISTRAL_TAG) :])
    if MISTRAL_ARGS in body:  # v11: name[ARGS]{...}[TOOL_CALLS]name[ARGS]{...}
        entries: list[TextEntry] = []
        count = 0
        for part in body.split(MISTRAL_TAG):
            name, sep, arguments = part.partition(MISTRAL_ARGS)
            if not part.strip():
                continue
            count += 1
            if len(entries) >= limit:
                continue
            if not sep:
                entries.append(TextEntry(error=f"[TOOL_CALLS] call {count} has no [ARGS]"))
                continue
            decoded, error = _decode_prefix(arguments.strip())
            if error is not None:
                entries.append(TextEntry(error=f"[TOOL_CALLS] call {count}: arguments are {error}"))
            else:
                entries.append(TextEntry(call={"name": name.strip(), "arguments": decoded}))
        return TextCalls("mistral", entries, count, prose, len(text))
    decoded, error = _decode_prefix(body.strip())
    if error is not None:
        return TextCalls(
            "mistral", [TextEntry(error=f"[TOOL_CALLS] is followed by {error}")], 1, prose, len(text)
        )
    calls = _json_calls(decoded)
    if calls is None:
        return TextCalls(
            "mistral",
            [TextEntry(error='[TOOL_CALLS] must be followed by [{"name": ..., "arguments": {...}}, ...]')],
            1,
            prose,
            len(text),
        )
    return TextCalls("mistral", _entries(calls, limit), len(calls), prose, len(text))


def _decode_prefix(text: str) -> tuple[Any, str | None]:
    """The JSON value at the start of ``text`` (trailing text ignored), or what is wrong with it."""
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return None, json_fault(exc, text)
    return value, None


def _strip_end_tokens(text: str) -> str:
    for token in END_TOKENS:
        cut = text.find(token)
        if cut >= 0:
            text = text[:cut]
    return text


def _python_tag(text: str, limit: int) -> TextCalls | None:
    start = text.find(PYTHON_TAG)
    if start < 0:
        return None
    prose = text[:start]
    body = _strip_end_tokens(text[start + len(PYTHON_TAG) :]).strip()
    if body.startswith(("{", "[")):
        calls: list[dict[str, Any]] = []
        for position, chunk in enumerate(_split_json_objects(body), 1):
            if calls and not chunk.startswith(("{", "[")):
                prose = f"{prose}\n{chunk}" if prose.strip() else chunk  # text after the calls
                break
            decoded, error = _decode_prefix(chunk)
            found = None if error else _json_calls(decoded)
            if found is None:
                what = error or "not a JSON call object"
                return TextCalls(
                    "python_tag",
                    [TextEntry(error=f"<|python_tag|> call {position} is {what}")],
                    1,
                    prose,
                    len(text),
                )
            calls.extend(found)
        return TextCalls("python_tag", _entries(calls, limit), len(calls), prose, len(text))
    entries, count = _python_entries(body, "<|python_tag|>", limit)
    return TextCalls("python_tag", entries, count, prose, len(text))


def _split_json_objects(body: str) -> list[str]:
    """``{...}; {...}`` -> the objects' texts (a ``;`` inside a string stays put: each object is decoded whole)."""
    chunks: list[str] = []
    decoder = json.JSONDecoder()
    pos = 0
    while pos < len(body) and len(chunks) <= MAX_CALLS:
        try:
            _, end = decoder.raw_decode(body, pos)
        except (json.JSONDecodeError, RecursionError):
            chunks.append(body[pos:])
            break
        chunks.append(body[pos:end])
        pos = end
        while pos < len(body) and body[pos] in " \t\r\n;,":
            pos += 1
    return chunks


def _fenced(text: str, limit: int) -> TextCalls | None:
    """```tool_code / ```json blocks; the first block kind that holds a call decides the form."""
    if FENCE not in text:
        return None
    code: list[TextEntry] = []
    blocks: list[TextEntry] = []
    code_spans: list[tuple[int, int]] = []
    json_spans: list[tuple[int, int]] = []
    code_count = json_count = 0
    pos = scanned = 0
    while True:
        start = text.find(FENCE, pos)
        if start < 0:
            break
        line_end = text.find("\n", start)
        if line_end < 0:
            break
        label = text[start + len(FENCE) : line_end].strip().lower()
        end = text.find(FENCE, line_end)
        if end < 0:
            break
        body = text[line_end + 1 : end].strip()
        scanned = end + len(FENCE)
        pos = scanned
        span = (start, end + len(FENCE))
        if label in CODE_FENCES:
            found = _json_in_block(body)[0] if body.startswith(("{", "[")) else None
            if found is not None:
                entries, n = _entries(found, limit), len(found)
            else:
                entries, n = _python_entries(body, f"```{label} block", limit)
                if label in ("python", "py") and any(e.error for e in entries):
                    continue  # ordinary Python in prose, not a call
            code_count += n
            code.extend(entries)
            code_spans.append(span)
        elif label in JSON_FENCES:
            found, broken = _json_in_block(body, f"```{label} block {len(json_spans) + 1}")
            if broken is not None:
                json_count += 1
                blocks.append(broken)
            elif found is not None:
                json_count += len(found)
                blocks.extend(_entries(found, limit))
            else:
                continue
            json_spans.append(span)
    if code_count:
        return TextCalls("tool_code", code[:limit], code_count, _cut(text, code_spans), scanned)
    if json_count:
        return TextCalls("json_block", blocks[:limit], json_count, _cut(text, json_spans), scanned)
    return None


def _json_in_block(body: str, where: str = "") -> tuple[list[dict[str, Any]] | None, TextEntry | None]:
    """``(calls, None)``; ``(None, error entry)`` for broken JSON that begins like a call; ``(None, None)``."""
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        return None, _broken_call(body, 0, exc, where)
    return _json_calls(value), None


def _broken_call(
    text: str, start: int, exc: json.JSONDecodeError | RecursionError, where: str
) -> TextEntry | None:
    """The error entry for JSON at ``text[start:]`` that begins like a call but does not decode, else ``None``."""
    match = CALL_START.match(text, start)
    if match is None:
        return None
    return TextEntry(error=f'{where}: the JSON call to "{match[1]}" is {json_fault(exc, text)}')


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in spans:
        out.append(text[pos:start])
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _bare_json(text: str, limit: int) -> TextCalls | None:
    """JSON call objects (or one list of them) starting a line; prose around them is kept as the rest."""
    decoder = json.JSONDecoder()
    entries: list[TextEntry] = []
    spans: list[tuple[int, int]] = []
    pos = tries = count = 0
    line, counted = 1, 0  # the line number of offset ``counted``
    while pos < len(text) and tries < 2 * MAX_CALLS:
        line_end = text.find("\n", pos)
        line_end = len(text) if line_end < 0 else line_end
        start = pos + len(text[pos:line_end]) - len(text[pos:line_end].lstrip())
        if start < line_end and text[start] in "{[":
            tries += 1
            try:
                value, end = decoder.raw_decode(text, start)
            except (json.JSONDecodeError, RecursionError) as exc:
                line, counted = line + text.count("\n", counted, start), start
                broken = _broken_call(text, start, exc, f"line {line}")
                if broken is not None:
                    count += 1
                    if len(entries) < limit:
                        entries.append(broken)
                pos = line_end + 1
                continue
            found = _json_calls(value)
            if found:
                count += len(found)
                entries.extend(_entries(found, limit - len(entries)))
                spans.append((start, end))
            pos = max(end, line_end + 1) if not found else end
            continue
        pos = line_end + 1
    if not count:
        return None
    return TextCalls("json", entries, count, _cut(text, spans), len(text))


# -- Python calls -------------------------------------------------------------------------------------------------

_LITERAL_NAMES = {"true": True, "false": False, "null": None, "none": None}


def _python_entries(code: str, where: str, limit: int) -> tuple[list[TextEntry], int]:
    """Calls from Python source: statements ``name(k=v)``, ``[a(...), b(...)]``, or ``print(name(...))``."""
    if len(code) > MAX_CODE_CHARS:
        return [TextEntry(error=f"{where} is over {MAX_CODE_CHARS} characters")], 1
    try:
        tree = ast.parse(code, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [TextEntry(error=f"{where} is not a Python call such as name(key=value)")], 1
    nodes: list[ast.expr] = []
    for statement in tree.body:
        if not isinstance(statement, ast.Expr):
            return [TextEntry(error=f"{where} must hold only calls such as name(key=value)")], 1
        value = statement.value
        if isinstance(value, (ast.List, ast.Tuple)):
            nodes.extend(value.elts)
        else:
            nodes.append(value)
    if not nodes:
        return [TextEntry(error=f"{where} is empty")], 1
    entries = [_python_call(node, where) for node in nodes[:limit]]
    return entries, len(nodes)


def _python_call(node: ast.expr, where: str) -> TextEntry:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
        and len(node.args) == 1
    ):
        node = node.args[0]  # Gemma's tool_code examples wrap calls in print(...)
    if not isinstance(node, ast.Call):
        return TextEntry(error=f"{where}: expected a call such as name(key=value)")
    name = _dotted(node.func)
    if name is None:
        return TextEntry(error=f"{where}: the called object is not a tool name")
    if name.endswith(".call"):  # Llama's built-in tool form: brave_search.call(query=...)
        name = name[: -len(".call")]
    if node.args:
        return TextEntry(
            error=f"{where}: {name}(...) must name its arguments (key=value), not pass them by position"
        )
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            return TextEntry(error=f"{where}: {name}(**...) is not supported; name each argument")
        if keyword.arg in arguments:  # ast accepts f(a=1, a=2); Python refuses to compile it
            return TextEntry(error=f"{where}: argument {keyword.arg} of {name} is given twice")
        try:
            arguments[keyword.arg] = _literal(keyword.value)
        except ValueError:
            return TextEntry(error=f"{where}: argument {keyword.arg} of {name} is not a literal value")
    return TextEntry(call={"name": name, "arguments": arguments})


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _literal(node: ast.expr) -> Any:
    """A literal value; the JSON words ``true``/``false``/``null`` too (models mix the two languages)."""
    if isinstance(node, ast.Name) and node.id.lower() in _LITERAL_NAMES:
        return _LITERAL_NAMES[node.id.lower()]
    if isinstance(node, ast.Dict):
        out = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise ValueError("dict unpacking")
            out[_literal(key)] = _literal(value)
        return out
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item) for item in node.elts]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise ValueError("not a literal") from None
