"""``prgym run`` and ``prgym demo`` through Typer's CliRunner on the real catalog (no LLM, no server)."""

from __future__ import annotations

import json
import re

import typer
from typer.testing import CliRunner

from harness.cli.demo import demo
from harness.cli.run import run
from sandbox.recorder import read_traces
from sandbox.tasks.taskset import TaskSet


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("run")(run)
    app.command("demo")(demo)
    return app


def test_run_scripted_prints_metrics_and_resumes(small_snapshot, research_tasks, tmp_path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[:6]).save(tasks)
    out = tmp_path / "runs" / "s"
    args = ["run", "--tasks", str(tasks), "--catalog", str(small_snapshot), "--policy", "scripted",
            "--concurrency", "2", "--trials", "2", "--out", str(out), "--no-progress"]  # fmt: skip
    first = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output.strip().splitlines()[-1])["policies"]["scripted"]["episodes"] == 12
    metrics = json.loads((out / "metrics.json").read_text())["scripted"]
    assert metrics["episodes"] == 12 and metrics["acceptance_rate"] >= 0.8
    assert metrics["effective_product_count"] >= 3 and metrics["grounding"] == 1.0
    assert metrics["constraint_satisfaction"] == 1.0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(r["info"]["metrics"]["effective_product_count"] >= 1 for r in records)
    by_task = {}
    for r in records:  # the scripted agent is deterministic: both trials of a task score the same
        by_task.setdefault(r["task_id"], set()).add(r["reward"])
    assert all(len(v) == 1 for v in by_task.values())
    again = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert again.exit_code == 0 and "12 already finished" in " ".join(again.output.split())
    assert len((out / "results.jsonl").read_text().splitlines()) == 12


def test_run_rejects_a_missing_catalog(tmp_path, research_tasks) -> None:
    tasks = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[:1]).save(tasks)
    result = CliRunner().invoke(
        _app(), ["run", "--tasks", str(tasks), "--catalog", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "no manifest.json" in " ".join(result.output.split())


def test_demo_runs_offline(shared_data, tmp_path) -> None:
    args = ["demo", "--data-dir", str(shared_data), "--workdir", str(tmp_path / "work"), "--n", "3"]
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "[P:" in text and "EPC" in text and "results.jsonl" in text
    run_dir = tmp_path / "work" / "runs" / "demo-scripted-seed0"
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["status"] == "completed" for r in records)
    assert f"traces: {run_dir / 'traces.jsonl'}" in result.output
    traces = read_traces(run_dir / "traces.jsonl")
    assert sorted(t.episode_id for t in traces) == sorted(r["episode_key"] for r in records)
    first = TaskSet.load(run_dir / "tasks.jsonl").ids()[0]
    report = next(t.report for t in traces if t.task_id == first)
    cited = re.findall(r"\[P:[^\]]+\]", report)
    assert cited and all(c in text for c in cited[:3])  # the printed report is the recorded one
    reused = CliRunner().invoke(_app(), [*args, "--out", str(tmp_path / "again")], catch_exceptions=False)
    assert reused.exit_code == 0 and "catalog: reusing" in reused.output


def test_harness_demo_imports_on_its_own() -> None:
    """Regression: harness.demo -> harness.cli.run -> harness.cli/__init__ -> cli/demo -> harness.demo."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import harness.demo"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_run_passes_env_arguments(small_snapshot, research_tasks, tmp_path) -> None:
    """Regression: prgym run built the env itself, so reward weights, revision limits etc. could not be set."""
    tasks = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[:2]).save(tasks)
    out = tmp_path / "o"
    weights = json.dumps({"research_weights": {"accepted": 1.0}})
    args = ["run", "--tasks", str(tasks), "--catalog", str(small_snapshot), "--out", str(out), "--no-progress",
            "--env-arg", f"reward={weights}", "--env-arg", "page_size=3"]  # fmt: skip
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    traces = read_traces(out / "traces.jsonl")
    assert len(traces) == 2 and all(
        t.reward_weights["accepted"] == sum(t.reward_weights.values()) == 1 for t in traces
    )
    search = next(m for s in traces[0].steps for m in s.tool_messages if m["name"] == "product_search")
    assert json.loads(search["content"])["page_size"] == 3
    bad = CliRunner().invoke(_app(), [*args[:-4], "--env-arg", "snapshot=x"])
    assert bad.exit_code == 2 and "--env-arg snapshot" in " ".join(bad.output.split())


def test_rollout_writes_traces_for_prgym_envs(small_snapshot, research_tasks, tmp_path) -> None:
    """Regression: prgym rollout wrote no traces, so prgym distill could not read its output."""
    from harness.rollout.cli import run as rollout

    tasks = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[:2]).save(tasks)
    app = typer.Typer()
    app.command("rollout")(rollout)
    app.command("noop", hidden=True)(lambda: None)
    out = tmp_path / "r"
    args = ["rollout", "--tasks", str(tasks), "--policy", "scripted", "--out", str(out), "--no-progress",
            "--env-arg", f"snapshot={small_snapshot}", "--env-arg", f"tasks={tasks}"]  # fmt: skip
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    traces = read_traces(out / "traces.jsonl")
    assert sorted(t.episode_id for t in traces) == sorted(r["episode_key"] for r in records)
    assert all(t.finished and t.steps for t in traces)
    assert all("effective_product_count" in r["info"]["metrics"] for r in records)
