"""Ensemble teachers end to end: two scripted configurations roll out the same tasks under supervision, and
``prgym distill --best-of-teachers`` keeps one trajectory per task, the best-scored, naming its teacher."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import typer
from scripted_runs import N_TASKS, TEACHERS
from typer.testing import CliRunner

from harness.cli import distill as distill_cmd
from sandbox.recorder import read_traces


def test_best_of_teachers_keeps_the_top_scored_trajectory_per_task(
    scripted_runs: Path, tmp_path: Path
) -> None:
    app = typer.Typer()
    distill_cmd.register(app)
    app.command("noop")(lambda: None)  # two commands, so typer keeps the sub-command name
    out, decisions = tmp_path / "train.jsonl", tmp_path / "decisions.jsonl"
    args = [
        "distill",
        str(scripted_runs),
        "--out",
        str(out),
        "--best-of-teachers",
        "--decisions",
        str(decisions),
    ]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    traces = read_traces(scripted_runs)
    by_task: dict[str, dict[str, float]] = defaultdict(dict)
    for trace in traces:
        by_task[trace.task_id][trace.teacher] = float(trace.reward)
    assert len(by_task) == N_TASKS and all(set(t) == set(TEACHERS) for t in by_task.values())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["meta"]["task_id"] for r in rows) == sorted(by_task)  # exactly one sample per task
    strict_wins = 0
    for row in rows:
        scores = by_task[row["meta"]["task_id"]]
        assert max(scores.values()) == scores[row["meta"]["teacher"]]
        assert row["meta"]["score"] == round(max(scores.values()), 6)  # the export rounds meta floats
        if len(set(scores.values())) > 1:
            strict_wins += 1
            assert row["meta"]["teacher"] == max(scores, key=scores.__getitem__)
    assert strict_wins >= 1  # the task set separates the two teachers on at least one task
    dropped = [json.loads(line) for line in decisions.read_text().splitlines()]
    assert len(dropped) == len(traces)
    losers = [d for d in dropped if not d["kept"]]
    assert len(losers) == len(traces) - N_TASKS
    assert {d["reason"] for d in losers} <= {"not_best_of_teachers", "duplicate"}
    assert any(d["reason"] == "not_best_of_teachers" for d in losers)
    for d in losers:
        winner = next(r for r in rows if r["meta"]["task_id"] == d["task_id"])
        assert winner["meta"]["episode_id"] in d["detail"]
    assert "kept from scripted-wide" in result.output
