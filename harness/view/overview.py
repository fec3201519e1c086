"""Run overview: per-episode rows for the list, counts, metric tables and charts for each run folder.

The rows come from ``results.jsonl`` (every finished episode, completed or failed), joined to traces by
episode id; figures are computed here, never read back from a printed table, so they are the run's real
numbers. Everything rendered is escaped.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from html import escape
from statistics import mean
from typing import Any

from harness.view.load import RunData
from harness.view.svg import histogram, stacked_bars

TASK_PREVIEW_CHARS = 160


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def status_of(result: dict[str, Any], trace: dict[str, Any] | None) -> str:
    """``failed`` (the runner gave up), ``accepted``, ``truncated`` (limits hit), or ``rejected``."""
    if result.get("status") == "failed":
        return "failed"
    info = result.get("info") or {}
    accepted = info.get("accepted", (trace or {}).get("accepted"))
    if accepted:
        return "accepted"
    if result.get("truncated") or (trace or {}).get("truncated"):
        return "truncated"
    return "rejected"


def episode_row(
    run_index: int, run: RunData, result: dict[str, Any], trace: dict[str, Any] | None
) -> dict[str, Any]:
    """One line of the episode list (small: the list of 1,000 episodes is parsed when the page opens)."""
    info = result.get("info") or {}
    metrics = {**((trace or {}).get("metrics") or {}), **(info.get("metrics") or {})}
    task_id = str(result.get("task_id") or (trace or {}).get("task_id") or "?")
    task = (trace or {}).get("task") or run.tasks.get(task_id) or {}
    query = str(task.get("query") or task.get("instruction") or "")
    usage = result.get("usage") or (trace or {}).get("usage") or {}
    return {
        "run": run_index,
        "id": str(result.get("episode_key") or (trace or {}).get("episode_id") or ""),
        "task": task_id,
        "split": task.get("split"),
        "policy": str(result.get("policy") or "?"),
        "trial": result.get("trial"),
        "status": status_of(result, trace),
        "reason": result.get("reason"),
        "reward": _num(result.get("reward")),
        "epc": _num(metrics.get("effective_product_count")),
        "epc_ok": _num(metrics.get("constraint_satisfying_count")),
        "grounding": _num(metrics.get("grounding_accuracy")),
        "constraints": _num(metrics.get("constraint_satisfaction")),
        "r_pro": _num(metrics.get("r_pro")),
        "steps": _num(result.get("steps")),
        "tools": _num(info.get("tool_calls")),
        "tokens": _num(usage.get("total_tokens")),
        "time": _num(result.get("duration_s")),
        "components": {
            k: v for k, v in (result.get("reward_components") or {}).items() if _num(v) is not None
        },
        "query": query[:TASK_PREVIEW_CHARS],
        "trace": trace is not None,
    }


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return mean(values) if values else None


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


METRIC_COLUMNS = (
    ("reward", "reward", 3),
    ("epc", "EPC", 2),
    ("epc_ok", "EPC ok", 2),
    ("grounding", "grounding", 3),
    ("constraints", "constr.", 3),
    ("r_pro", "r_pro", 3),
    ("steps", "steps", 1),
    ("tools", "tool calls", 1),
    ("tokens", "tokens", 0),
    ("time", "time s", 2),
)


def metrics_table(groups: dict[str, list[dict[str, Any]]], label: str) -> str:
    """Means per group (policy, split, run x policy), with counts and the accepted share."""
    head = "".join(f"<th>{escape(name)}</th>" for _, name, _ in METRIC_COLUMNS)
    lines = [
        f'<table class="metrics"><thead><tr><th>{escape(label)}</th><th>n</th><th>failed</th><th>accepted</th>{head}</tr></thead><tbody>'
    ]
    for name, rows in groups.items():
        done = [r for r in rows if r["status"] != "failed"]
        accepted = sum(r["status"] == "accepted" for r in done) / len(done) if done else None
        cells = "".join(f"<td>{_cell(_mean(done, key), d)}</td>" for key, _, d in METRIC_COLUMNS)
        lines.append(
            f"<tr><td>{escape(name)}</td><td>{len(rows)}</td><td>{len(rows) - len(done)}</td>"
            f"<td>{_cell(accepted)}</td>{cells}</tr>"
        )
    lines.append("</tbody></table>")
    return "".join(lines)


def _weights(run: RunData) -> dict[str, float]:
    for trace in run.traces.values():
        weights = trace.get("reward_weights")
        if weights:
            return {k: float(v) for k, v in weights.items()}
    return {}


def _component_bars(rows: list[dict[str, Any]], weights: dict[str, float]) -> str:
    by_policy: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["status"] != "failed":
            by_policy[row["policy"]].append(row)
    bars = []
    for policy, members in by_policy.items():
        names = list(dict.fromkeys(k for r in members for k in r["components"]))
        segments = []
        for name in names:
            values = [float(r["components"].get(name, 0.0)) for r in members]
            segments.append((name, weights.get(name, 1.0 / max(len(names), 1)) * mean(values)))
        bars.append((policy, segments))
    title = (
        "reward components (weighted mean contribution)"
        if weights
        else "reward components (mean, equal weights)"
    )
    return stacked_bars(bars, title=title, scale=1.0 if weights else None)


def _values(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in rows if r.get(key) is not None and r["status"] != "failed"]


def run_overview(run_index: int, run: RunData, rows: list[dict[str, Any]]) -> str:
    """The overview section of one run folder (counts, tables, charts) as safe HTML."""
    counts = Counter(r["status"] for r in rows)
    failed_reasons = Counter(str(r.get("reason") or "unknown") for r in rows if r["status"] == "failed")
    summary = run.summary or {}
    tokens = sum(r["tokens"] or 0 for r in rows)
    wall = summary.get("wall_s")
    cards = [
        ("episodes", str(len(rows))),
        ("completed", str(len(rows) - counts["failed"])),
        ("failed", str(counts["failed"])),
        ("accepted", str(counts["accepted"])),
        ("truncated", str(counts["truncated"])),
        ("rejected", str(counts["rejected"])),
        ("mean reward", _cell(_mean([r for r in rows if r["status"] != "failed"], "reward"))),
        ("tokens", f"{tokens:,.0f}"),
        ("wall time", f"{wall:.1f} s" if isinstance(wall, (int, float)) else "-"),
    ]
    parts = [f'<section class="run" data-run="{run_index}"><h2>{escape(run.name)}</h2>']
    parts.append(f'<div class="path">{escape(str(run.path))}</div>')
    parts.append(
        '<div class="cards">'
        + "".join(
            f'<div class="card" data-count="{escape(k)}"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
            for k, v in cards
        )
        + "</div>"
    )
    if failed_reasons:
        reasons = ", ".join(f"{escape(k)}: {v}" for k, v in failed_reasons.most_common())
        parts.append(f'<div class="failures">failures by reason: {reasons}</div>')
    if run.warnings:
        shown = "".join(f"<li>{escape(w)}</li>" for w in run.warnings[:20])
        more = f"<li>... {len(run.warnings) - 20} more</li>" if len(run.warnings) > 20 else ""
        parts.append(
            f'<details class="warnings"><summary>{len(run.warnings)} reading note(s)</summary><ul>{shown}{more}</ul></details>'
        )
    by_policy: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_policy[row["policy"]].append(row)
        by_split[str(row.get("split") or "(no split)")].append(row)
    parts.append("<h3>per policy</h3>" + metrics_table(by_policy, "policy"))
    if len(by_split) > 1 or "(no split)" not in by_split:
        parts.append("<h3>per task split</h3>" + metrics_table(by_split, "split"))
    charts = [
        histogram(_values(rows, "reward"), title="reward", lo=0.0, hi=1.0),
        _component_bars(rows, _weights(run)),
        histogram(_values(rows, "epc"), title="effective product count", integer=True),
        histogram(_values(rows, "grounding"), title="grounding accuracy", lo=0.0, hi=1.0),
        histogram(_values(rows, "steps"), title="steps per episode", integer=True),
        histogram(_values(rows, "tools"), title="tool calls per episode", integer=True),
        histogram(_values(rows, "time"), title="episode time (s)"),
    ]
    if any(r["tokens"] for r in rows):
        charts.append(histogram(_values(rows, "tokens"), title="tokens per episode"))
    parts.append('<div class="charts">' + "".join(charts) + "</div></section>")
    return "".join(parts)


def leaderboard(runs: list[RunData], rows: list[dict[str, Any]]) -> str:
    """Several runs: one table row per run and policy, best mean reward first (like ``eval compare``)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[f"{runs[row['run']].name} / {row['policy']}"].append(row)
    ordered = dict(
        sorted(
            groups.items(),
            key=lambda kv: -(_mean([r for r in kv[1] if r["status"] != "failed"], "reward") or 0.0),
        )
    )
    return (
        '<section class="leaderboard"><h2>leaderboard</h2>'
        + metrics_table(ordered, "run / policy")
        + "</section>"
    )
