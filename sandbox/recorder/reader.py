"""Typed reading of traces files: every line validated, unknown schema versions refused with the line named."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from sandbox.errors import UserError
from sandbox.recorder.schema import SUPPORTED_VERSIONS, EpisodeTrace


class TraceFormatError(UserError, ValueError):
    """A traces file line is not a valid trace; the message names the file, the line and what was expected."""

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{path}:{line}: {problem}")


def parse_trace(text: str, *, path: Path | str = "<string>", line: int = 1) -> EpisodeTrace:
    """One trace from its JSON text."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TraceFormatError(path, line, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise TraceFormatError(path, line, f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version not in SUPPORTED_VERSIONS:
        raise TraceFormatError(
            path,
            line,
            f"unknown schema_version {version!r}; this prgym reads versions {sorted(SUPPORTED_VERSIONS)} "
            "(upgrade prgym to read newer traces)",
        )
    try:
        return EpisodeTrace.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<record>"
        raise TraceFormatError(
            path, line, f"field {where}: {first['msg']} ({exc.error_count()} error(s) in total)"
        ) from None


def iter_traces(path: str | Path) -> Iterator[EpisodeTrace]:
    """Traces of one JSONL file, in order; blank lines are skipped."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, 1):
            if text.strip():
                yield parse_trace(text, path=path, line=number)


def trace_files(runs: str | Path) -> list[Path]:
    """The traces files of ``runs``: the file itself, or every ``*traces*.jsonl`` below a directory."""
    runs = Path(runs)
    if runs.is_file():
        return [runs]
    if runs.is_dir():
        found = sorted(p for p in runs.rglob("*.jsonl") if "traces" in p.name)
        if not found:
            raise FileNotFoundError(f"{runs}: no *traces*.jsonl file below this directory")
        return found
    raise FileNotFoundError(f"{runs}: no such traces file or directory")


def read_traces(paths: str | Path | Iterable[str | Path]) -> list[EpisodeTrace]:
    """Every trace of a file, a directory of traces files, or several of them."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[EpisodeTrace] = []
    for item in paths:
        for file in trace_files(item):
            out.extend(iter_traces(file))
    return out
