"""Honest accounting (issue 18, item 3) over real HTTP with the scripted server: a failed episode keeps the
tokens and steps it spent, every LLM role's tokens reach the record, the trace and the run summary, and the LLM
supervisor's raw replies and notes are kept in the trace."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from harness.cli.run import run
from harness.testing.openai_server import RecordedRequest, Reply
from sandbox.recorder import read_traces
from sandbox.tasks.taskset import TaskSet

PLAN = "Plan: search the catalog with the budget filter, compare the options and check each requirement."


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("run")(run)
    app.command("noop")(lambda: None)  # two commands: typer keeps "run" as a sub-command
    return app


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_a_failed_episode_keeps_its_tokens_and_steps(small_snapshot, research_tasks, llm_server, tmp_path):
    turns = 0

    def respond(request: RecordedRequest) -> Reply:
        nonlocal turns
        turns += 1
        if turns <= 2:
            return Reply.text(PLAN, prompt_tokens=120, completion_tokens=9)
        return Reply.error(400, message="this model does not like you")  # not retried: the episode fails

    llm_server.responder = respond
    tasks = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[:1]).save(tasks)
    out = tmp_path / "run"
    args = ["run", "--tasks", str(tasks), "--catalog", str(small_snapshot), "--policy", "openai:agent-model",
            "--llm-set", f"base_url={llm_server.base_url}", "--max-steps", "6", "--out", str(out),
            "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code == 1, result.output  # every episode failed
    (record,) = _records(out)
    assert record["status"] == "failed" and record["reason"] == "llm_http_error"
    assert record["steps"] == 2
    assert record["usage"]["prompt_tokens"] == 240 and record["usage"]["completion_tokens"] == 18
    assert record["usage"]["calls"] == 2 and record["usage"]["failed_calls"] == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tokens"]["prompt_tokens"] == 240 and summary["tokens_by_role"]["agent"]["calls"] == 2
    assert "240 prompt + 18 completion over 2 calls" in result.output
    (trace,) = read_traces(out / "traces.jsonl")
    assert not trace.finished and len(trace.steps) == 2 and trace.usage["prompt_tokens"] == 240


def test_every_role_is_counted_and_supervisor_replies_are_kept(
    small_snapshot, research_tasks, llm_server, tmp_path
):
    def respond(request: RecordedRequest) -> Reply:
        if request.body["model"] == "sup-model":
            return Reply.text("Sure! The plan looks good.", prompt_tokens=50, completion_tokens=5)
        request_text = next(m["content"] for m in request.body["messages"] if m["role"] == "user")
        # a plan the rules accept (it names every requirement), so the LLM supervisor is asked about it
        return Reply.text(
            f"{PLAN} I will check each of: {request_text}", prompt_tokens=100, completion_tokens=7
        )

    llm_server.responder = respond
    tasks = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[:1]).save(tasks)
    out = tmp_path / "run"
    args = ["run", "--tasks", str(tasks), "--catalog", str(small_snapshot), "--policy", "openai:agent-model",
            "--supervisor", "openai:sup-model", "--llm-set", f"base_url={llm_server.base_url}",
            "--max-steps", "2", "--out", str(out), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (record,) = _records(out)
    sup_requests = [r for r in llm_server.chat_requests() if r.body["model"] == "sup-model"]
    assert sup_requests, "the plan went to the LLM supervisor"
    roles = record["info"]["usage_by_role"]
    assert roles["agent"]["prompt_tokens"] == 200 and roles["agent"]["calls"] == 2
    assert roles["supervisor"]["calls"] == len(sup_requests)
    assert roles["supervisor"]["prompt_tokens"] == 50 * len(sup_requests)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tokens_by_role"]["supervisor"]["calls"] == len(sup_requests)
    assert summary["tokens"]["prompt_tokens"] == 200 + 50 * len(sup_requests)
    assert "supervisor:" in result.output and "agent:" in result.output
    (trace,) = read_traces(out / "traces.jsonl")
    assert trace.usage_by_role["supervisor"]["calls"] == len(sup_requests)
    assert record["info"]["llm_supervisor"]["unusable"] >= 1
    llm_parts = [v["llm"] for step in trace.steps for v in step.verdicts if "llm" in v]
    assert llm_parts, "the supervisor's LLM verdicts are in the trace"
    first = llm_parts[0]
    assert first["raw_replies"] == ["Sure! The plan looks good."] * 2  # the reply and the retry after it
    assert "LLM reply unusable" in first["note"] and first["attempts"] == 2
