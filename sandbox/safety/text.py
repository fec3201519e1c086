"""Valid UTF-8 everywhere, and agent objects as bounded JSON data.

Python strings may hold lone surrogates (``"\\ud83d"``): they print, compare and pass through pydantic, and then
fail the moment a record is encoded as UTF-8 (the trace write), losing the episode. Text that enters the env
(actions) or the harness (LLM replies) is cleaned here once, and the number of replaced characters is reported
so that a run can show how often it happened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def clean_text(text: str) -> tuple[str, int]:
    """``text`` with every surrogate code point replaced by U+FFFD, and how many were replaced."""
    if text.isascii():
        return text, 0
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.subn(REPLACEMENT, text)
    return text, 0


def has_escaped_surrogate(json_text: str) -> bool:
    """Whether JSON text spells a surrogate as an escape (``\\ud83d``), which ``json.loads`` turns into one."""
    return "\\u" in json_text and _ESCAPED_SURROGATE.search(json_text) is not None


class DataLimitError(ValueError):
    """An agent object that is not plain JSON data, or exceeds the depth / size limits."""


class JsonCleaner:
    """Copies agent-supplied values into plain JSON data (dict/list/str/int/float/bool/None), cleaning strings.

    Never recurses deeper than ``max_depth`` and stops after ``max_values`` values or ``max_chars`` characters of
    strings, so that a 10k-deep or 10M-element object costs a bounded amount of work. Subclasses of the JSON types
    are read through the base type (their overridden ``__repr__``/``__str__`` are never called).
    """

    def __init__(self, *, max_depth: int = 24, max_values: int = 20_000, max_chars: int = 200_000) -> None:
        self.max_depth = max_depth
        self.max_values = max_values
        self.max_chars = max_chars
        self.values = 0
        self.chars = 0
        self.replaced = 0

    def clean(self, value: Any) -> Any:
        return self._clean(value, 0)

    def text(self, value: str) -> str:
        value = str.__str__(value)
        self.chars += len(value)
        if self.chars > self.max_chars:
            raise DataLimitError(f"the strings in it exceed {self.max_chars} characters")
        cleaned, replaced = clean_text(value)
        self.replaced += replaced
        return cleaned

    def _clean(self, value: Any, depth: int) -> Any:
        self.values += 1
        if self.values > self.max_values:
            raise DataLimitError(f"it holds more than {self.max_values} values")
        if value is None or value is True or value is False:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool):
            return bool.__bool__(value)
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            return float.__float__(value)
        if depth >= self.max_depth:
            raise DataLimitError(f"it nests deeper than {self.max_depth} levels")
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise DataLimitError(f"object keys must be strings, got {type(key).__name__}")
                out[self.text(key)] = self._clean(item, depth + 1)
            return out
        if isinstance(value, (list, tuple)):
            return [self._clean(item, depth + 1) for item in value]
        raise DataLimitError(f"it holds a {type(value).__name__}, which is not JSON data")
