"""``prgym run`` traces (one per finished episode, across resumes and crashes), ``prgym distill`` over them, and
``--supervisor openai:MODEL`` with the LLM supervisor's critique reaching the agent (real HTTP, scripted server)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import typer
from typer.testing import CliRunner

from harness.cli import distill as distill_cmd
from harness.cli.run import run
from harness.testing.openai_server import RecordedRequest, Reply
from sandbox.recorder import read_traces
from sandbox.tasks.taskset import TaskSet

CRITIQUE = "The report never discusses warranty coverage; add a warranty note for the recommended option."


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("run")(run)
    distill_cmd.register(app)
    return app


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _trace_ids(out: Path) -> list[str]:
    return [json.loads(line)["episode_id"] for line in (out / "traces.jsonl").read_text().splitlines()]


def test_run_writes_one_trace_per_episode_across_resume_and_crash(
    small_snapshot, research_tasks, tmp_path
) -> None:
    tasks = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[:4]).save(tasks)
    out = tmp_path / "run"
    args = ["run", "--tasks", str(tasks), "--catalog", str(small_snapshot), "--policy", "scripted",
            "--concurrency", "2", "--out", str(out), "--no-progress"]  # fmt: skip
    first = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert f"traces: {out / 'traces.jsonl'}" in first.output
    records = {r["episode_key"]: r for r in _records(out)}
    traces = read_traces(out / "traces.jsonl")
    assert sorted(t.episode_id for t in traces) == sorted(records) and len(traces) == 4
    for trace in traces:
        record = records[trace.episode_id]
        assert trace.finished and trace.task_id == record["task_id"] and trace.seed == record["seed"]
        assert trace.policy["teacher"] == "scripted" and trace.policy["supervisor"] == "rules"
        assert abs(trace.reward - record["reward"]) < 1e-9 and trace.steps and trace.events
        assert trace.accepted == record["info"]["accepted"]

    # a plain rerun runs nothing and writes no trace
    CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert sorted(_trace_ids(out)) == sorted(records)

    # a crash between the trace and the record of the last episode, plus a torn trace line
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    lost = json.loads(lines[-1])["episode_key"]
    (out / "results.jsonl").write_text("".join(lines[:-1]))
    with open(out / "traces.jsonl", "a") as handle:
        handle.write('{"schema_version": 1, "episode_id": "')
    again = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    ids = _trace_ids(out)
    assert sorted(ids) == sorted(records) and ids[-1] == lost  # the rerun's trace, once
    assert len(read_traces(out / "traces.jsonl")) == 4

    # results whose traces are gone (an older run, or a crash the other way round) run again, once each
    (out / "traces.jsonl").unlink()
    again = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert sorted(_trace_ids(out)) == sorted(records)
    assert sorted(r["episode_key"] for r in _records(out)) == sorted(records)

    # prgym distill turns the run's traces into samples, with a decision per episode
    train, decisions = tmp_path / "train.jsonl", tmp_path / "decisions.jsonl"
    result = CliRunner().invoke(
        _app(),
        ["distill", str(out), "--out", str(train), "--decisions", str(decisions)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in decisions.read_text().splitlines()]
    assert sorted(r["episode_id"] for r in rows) == sorted(records)
    assert all(r["kept"] or r["reason"] for r in rows)
    samples = [json.loads(line) for line in train.read_text().splitlines()]
    assert len(samples) == sum(r["kept"] for r in rows) > 0
    assert all(
        s["meta"]["teacher"] == "scripted" and s["messages"][-1]["role"] == "assistant" for s in samples
    )


def test_run_with_the_llm_supervisor(small_snapshot, research_tasks, llm_server, tmp_path) -> None:
    reports = 0
    lock = threading.Lock()

    def respond(request: RecordedRequest) -> Reply:
        nonlocal reports
        prompt = request.body["messages"][-1]["content"]
        if "## Your check: report quality" in prompt:
            with lock:
                reports += 1
                if reports == 1:
                    return Reply.text(json.dumps({"pass": False, "critique": CRITIQUE}))
        return Reply.text('{"pass": true, "critique": ""}')

    llm_server.responder = respond
    tasks = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[2:3]).save(tasks)
    out = tmp_path / "run"
    args = ["run", "--tasks", str(tasks), "--catalog", str(small_snapshot), "--policy", "scripted",
            "--supervisor", "openai:sup-model", "--llm-set", f"base_url={llm_server.base_url}",
            "--llm-set", "max_retries=0", "--out", str(out), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (record,) = _records(out)
    assert record["status"] == "completed" and record["info"]["accepted"]
    sup = record["info"]["llm_supervisor"]
    assert sup["rejections"] == 1 and sup["calls"] >= 3 and sup["unusable"] == 0
    requests = llm_server.chat_requests()
    assert {r.body["model"] for r in requests} == {"sup-model"} and len(requests) == sup["calls"]
    (trace,) = read_traces(out / "traces.jsonl")
    assert trace.policy["models"] == {"supervisor": "sup-model"}
    feedback = [m["content"] for s in trace.steps for m in s.feedback if m.get("name") == "supervisor"]
    assert any("[llm_report]" in text and CRITIQUE in text for text in feedback)
    submitted = [
        json.loads(call["function"]["arguments"])["report"]
        for step in trace.steps
        for call in step.assistant.get("tool_calls") or []
        if call["function"]["name"] == "submit_report"
    ]
    assert len(submitted) == 2 and CRITIQUE not in submitted[0] and CRITIQUE in submitted[1]


def test_llm_policy_traces_carry_models_and_token_usage(small_snapshot, research_tasks, llm_server, tmp_path):
    plan = "Plan: search the catalog with the budget filter, compare the options and check each requirement."
    llm_server.responder = lambda request: Reply.text(plan, prompt_tokens=100, completion_tokens=7)
    tasks = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[:1]).save(tasks)
    out = tmp_path / "run"
    args = ["run", "--tasks", str(tasks), "--catalog", str(small_snapshot), "--policy", "openai:agent-model",
            "--llm-set", f"base_url={llm_server.base_url}", "--llm-set", "temperature=0.3",
            "--max-steps", "3", "--out", str(out), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (record,) = _records(out)
    (trace,) = read_traces(out / "traces.jsonl")
    assert trace.episode_id == record["episode_key"] and trace.truncated and len(trace.steps) == 3
    assert trace.policy["teacher"] == "openai:agent-model" and trace.policy["models"] == {
        "agent": "agent-model"
    }
    assert trace.policy["temperature"] == 0.3
    assert [s.usage["prompt_tokens"] for s in trace.steps] == [100, 100, 100]
    assert trace.usage["prompt_tokens"] == 300 and trace.usage["completion_tokens"] == 21
    assert record["usage"]["prompt_tokens"] == 300
