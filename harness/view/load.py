"""Reading run folders for the viewer: results, traces, summary, tasks and distill output, tolerantly.

A run folder is what ``prgym run`` / ``prgym demo`` write: ``results.jsonl`` (one line per finished episode),
``traces.jsonl`` (the raw trace of each), ``summary.json`` and ``tasks.jsonl``. Any of them may be missing (a run
interrupted early, a traces-only folder from a recorder): the viewer shows what is there. Traces are read with
the typed reader (:mod:`sandbox.recorder.reader`); a line the reader refuses (a newer schema, a field the trace
format gained or lost) is kept as its raw JSON object with the reader's message, so one odd line neither hides
the rest nor stops the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.recorder.reader import TraceFormatError, parse_trace

RESULTS = "results.jsonl"
SUMMARY = "summary.json"
TASKS = "tasks.jsonl"
METRICS = "metrics.json"


class RunFolderError(ValueError):
    """A path given to ``prgym view`` is not a run folder (the message says what was expected)."""


@dataclass
class RunData:
    """Everything the viewer reads from one run folder."""

    name: str
    path: Path
    results: list[dict[str, Any]] = field(default_factory=list)
    traces: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class DistillData:
    """A ``prgym distill`` output: the kept samples by episode id and every keep/drop decision."""

    path: Path
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)


def _jsonl(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                warnings.append(f"{path.name}:{number}: not valid JSON ({exc}); line skipped")
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                warnings.append(f"{path.name}:{number}: expected a JSON object; line skipped")
    return rows


def read_trace_line(text: str, path: Path, line: int, warnings: list[str]) -> dict[str, Any] | None:
    """One trace as a plain dict: validated by the typed reader when it can, else the raw object (noted)."""
    try:
        return parse_trace(text, path=path, line=line).model_dump(mode="json")
    except TraceFormatError as exc:
        try:
            raw = json.loads(text)
        except ValueError:
            warnings.append(str(exc) + "; line skipped")
            return None
        if not isinstance(raw, dict) or not raw.get("episode_id"):
            warnings.append(str(exc) + "; line skipped")
            return None
        warnings.append(str(exc) + "; shown as recorded")
        return raw


def _trace_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.jsonl") if "traces" in p.name)


def load_run(path: Path, name: str | None = None) -> RunData:
    """Read one run folder (or a single traces file)."""
    path = Path(path)
    if not path.exists():
        raise RunFolderError(
            f"{path}: no such run folder (give a directory written by 'prgym run' or 'prgym demo')"
        )
    folder = path if path.is_dir() else path.parent
    trace_files = _trace_paths(folder) if path.is_dir() else [path]
    results_path = folder / RESULTS
    if path.is_dir() and not trace_files and not results_path.is_file():
        raise RunFolderError(
            f"{path}: neither {RESULTS} nor a *traces*.jsonl file here; give a directory written by 'prgym run'"
        )
    run = RunData(name=name or folder.name, path=folder)
    if results_path.is_file() and path.is_dir():
        latest: dict[str, dict[str, Any]] = {}
        for row in _jsonl(results_path, run.warnings):
            key = str(row.get("episode_key") or row.get("episode_id") or len(latest))
            latest[key] = row  # a rerun of a failed episode replaces its earlier line
        run.results = list(latest.values())
    for file in trace_files:
        with open(file, encoding="utf-8") as handle:
            for number, text in enumerate(handle, 1):
                if text.strip():
                    trace = read_trace_line(text, file, number, run.warnings)
                    if trace is not None:
                        run.traces[str(trace["episode_id"])] = trace
    if (folder / SUMMARY).is_file():
        try:
            run.summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
        except ValueError as exc:
            run.warnings.append(f"{SUMMARY}: not valid JSON ({exc})")
    if (folder / METRICS).is_file():
        try:
            run.metrics = json.loads((folder / METRICS).read_text(encoding="utf-8"))
        except ValueError as exc:
            run.warnings.append(f"{METRICS}: not valid JSON ({exc})")
    if (folder / TASKS).is_file():
        for task in _jsonl(folder / TASKS, run.warnings):
            if task.get("task_id"):
                run.tasks[str(task["task_id"])] = task
    if not run.results:
        # a traces-only folder: one row per trace, so the list and overview still show every episode
        run.results = [result_of_trace(t) for t in run.traces.values()]
    return run


def result_of_trace(trace: dict[str, Any]) -> dict[str, Any]:
    """A ``results.jsonl``-shaped row made from a trace (for folders without results)."""
    policy = trace.get("policy") or {}
    return {
        "episode_key": trace.get("episode_id"),
        "task_id": trace.get("task_id"),
        "policy": policy.get("policy") or policy.get("teacher") or "?",
        "trial": policy.get("trial", 0),
        "seed": trace.get("seed"),
        "status": "completed" if trace.get("finished", True) else "failed",
        "reason": None if trace.get("finished", True) else "unfinished",
        "reward": trace.get("reward"),
        "reward_components": trace.get("reward_components") or {},
        "steps": len(trace.get("steps") or []),
        "terminated": trace.get("terminated"),
        "truncated": trace.get("truncated"),
        "usage": trace.get("usage") or {},
        "info": {"metrics": trace.get("metrics") or {}, "accepted": trace.get("accepted")},
        "duration_s": trace.get("duration_s"),
    }


def load_distill(path: Path, decisions: Path | None = None) -> DistillData:
    """A distill output (the ``--out`` folder's ``*.jsonl`` split files, or one JSONL file) and its decisions
    (``--decisions``; default: ``decisions*.jsonl`` beside the file or the folder)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.jsonl") if not p.name.startswith("decisions"))
        if not files:
            raise RunFolderError(
                f"--distill {path}: no *.jsonl split files in this folder (a --format parquet export "
                "cannot be viewed; export JSONL)"
            )
    elif path.is_file():
        files = [path]
    else:
        raise RunFolderError(f"--distill {path}: no such file or folder (give the --out of 'prgym distill')")
    warnings: list[str] = []
    data = DistillData(path=path)
    for file in files:
        for sample in _jsonl(file, warnings):
            episode = (sample.get("meta") or {}).get("episode_id")
            if episode:
                data.samples[str(episode)] = sample
    beside = [path, path.parent] if path.is_dir() else [path.parent]
    candidates = [decisions] if decisions else [f for d in beside for f in sorted(d.glob("decisions*.jsonl"))]
    for file in candidates:
        if file is not None and Path(file).is_file():
            for row in _jsonl(Path(file), warnings):
                if row.get("episode_id"):
                    data.decisions[str(row["episode_id"])] = row
    return data
