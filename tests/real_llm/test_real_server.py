"""Every LLM role against a real OpenAI-compatible server nobody here wrote (issue 18, item 5).

Run by ``bash .ci/real-llm``, which builds llama-cpp-python's server, serves Gemma 3 270M on 127.0.0.1 and sets
``PRGYM_REAL_LLM_URL`` / ``PRGYM_REAL_LLM_MODEL``; without them this folder is not collected (tests/conftest.py).
A 270M model answers badly, so the checks are about prgym: every call and episode ends completed or failed with a
precise reason, traces and token counts are written, nothing hangs or crashes.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from harness.cli import distill as distill_cmd
from harness.cli import judge as judge_cmd
from harness.cli import tasks as tasks_cmd
from harness.cli.run import run
from harness.llm import LLMClient, LLMConfig
from harness.policies.scripted import ScriptedPolicy
from harness.supervision import LLMSupervisor
from sandbox.env import ProductResearchEnv, shared_backend
from sandbox.env.actions import parse_action
from sandbox.recorder import read_traces
from sandbox.tasks.generator import generate_tasks
from sandbox.tasks.taskset import TaskSet

URL = os.environ.get("PRGYM_REAL_LLM_URL", "")
MODEL = os.environ.get("PRGYM_REAL_LLM_MODEL", "gemma3-270m")
SETTINGS = [f"base_url={URL}", "compat=llamacpp", "max_tokens=48", "temperature=0", "max_retries=1",
            "timeout_s=300", "max_concurrency=1"]  # fmt: skip
PRECISE = ("llm_timeout", "llm_connection_refused", "llm_server_error", "llm_invalid_request",
           "llm_context_length_exceeded", "llm_bad_response", "llm_http_error", "timeout")  # fmt: skip


def _config(**overrides) -> LLMConfig:
    values = {k: v for k, _, v in (s.partition("=") for s in SETTINGS)}
    values.update(model=MODEL, **overrides)
    return LLMConfig(**values)


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("run")(run)
    app.add_typer(tasks_cmd.app, name="tasks")
    distill_cmd.register(app)
    judge_cmd.register(app)
    return app


@pytest.fixture(scope="module")
def tasks(small_snapshot: Path) -> list:
    return list(generate_tasks(shared_backend(small_snapshot), 3, seed=11))


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_plain_call() -> None:
    async def go():
        async with LLMClient(_config()) as client:
            return await client.chat([{"role": "user", "content": "Say hello in three words."}]), client.usage

    result, usage = asyncio.run(go())
    assert isinstance(result.content, str) and result.finish_reason in ("stop", "length")
    assert usage.tokens.prompt_tokens > 0 and usage.tokens.completion_tokens > 0


def test_tool_call_and_a_second_turn_after_it(small_snapshot: Path) -> None:
    # one real schema (the full set is ~2,500 prompt tokens: over a minute of prompt evaluation here)
    tools = [
        t
        for t in ProductResearchEnv(small_snapshot).registry.schemas()
        if t["function"]["name"] == "product_search"
    ]
    messages = [{"role": "user", "content": "Search the catalog for wireless earbuds under 50 USD."}]

    async def go():
        async with LLMClient(_config(max_tokens=96)) as client:
            first = await client.chat(messages, tools)
            parsed = parse_action(first.message, step=1)
            turn = parsed.assistant_message()
            follow = [*messages, turn]
            for call in turn.get("tool_calls") or []:
                follow.append({"role": "tool", "tool_call_id": call["id"], "content": '{"hits": []}'})
            if len(follow) == 2:
                follow.append({"role": "user", "content": "Continue."})
            # the turn after a tool call is where content:null made llama-cpp-python answer HTTP 500
            second = await client.chat(follow, tools)
            return first, parsed, second

    first, parsed, second = asyncio.run(go())
    assert parsed.error is None or parsed.form == "invalid"
    assert first.finish_reason in ("stop", "length", "tool_calls") and second.finish_reason is not None


def test_run_with_the_research_agent_and_the_llm_supervisor(small_snapshot: Path, tasks, tmp_path) -> None:
    task_file = tmp_path / "tasks.jsonl"
    TaskSet(tasks).save(task_file)
    out = tmp_path / "run"
    args = ["run", "--tasks", str(task_file), "--catalog", str(small_snapshot), "--policy", f"openai:{MODEL}",
            "--supervisor", f"openai:{MODEL}", "--max-steps", "1", "--concurrency", "1", "--timeout", "900",
            "--out", str(out), "--no-progress"]  # fmt: skip
    for setting in SETTINGS:
        args += ["--llm-set", setting]
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    records = _records(out)
    assert len(records) == 3
    for record in records:
        assert record["status"] == "completed" or record["reason"] in PRECISE, record
        assert record["usage"].get("calls", 0) + record["usage"].get("failed_calls", 0) >= 1
    traces = read_traces(out / "traces.jsonl")
    assert len(traces) == 3 and all(t.usage.get("prompt_tokens", 0) > 0 for t in traces)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tokens"]["prompt_tokens"] > 0 and "agent" in summary["tokens_by_role"]
    print("run summary:", json.dumps(summary["tokens_by_role"]), summary["failures_by_reason"])


def test_llm_supervisor_judges_a_report_for_real(small_snapshot: Path, tasks) -> None:
    supervisor = LLMSupervisor(_config(max_tokens=64), checks=("answer",))
    try:
        env = ProductResearchEnv(small_snapshot, supervisor=supervisor)
        policy = ScriptedPolicy()
        _, info = env.reset(seed=0, options={"task": tasks[0]})
        tools = info["tools"]  # step infos carry the chat, not the schemas
        for _ in range(30):
            _, _, terminated, truncated, info = env.step(policy.next_action(info["messages"], tools))
            if terminated or truncated:
                break
    finally:
        supervisor.close()
    called = [r for r in supervisor.records if r.llm_called]
    assert called and supervisor.usage.calls + supervisor.usage.failed_calls >= len(called)
    assert all(r.raw_reply is not None or r.note for r in called)
    llm_parts = [v["llm"] for v in info["verdicts"] if "llm" in v]
    assert llm_parts and "raw_replies" in llm_parts[-1]


def test_llm_task_writer_on_two_tasks(small_snapshot: Path, tmp_path) -> None:
    out = tmp_path / "tasks.jsonl"
    args = ["tasks", "generate", "--catalog", str(small_snapshot), "-n", "2", "--out", str(out),
            "--writer", f"openai:{MODEL}", "--max-attempts", "2", "--concurrency", "1", "--no-progress",
            "--llm-set", "max_tokens=400"]  # fmt: skip
    for setting in SETTINGS:
        if not setting.startswith("max_tokens"):
            args += ["--llm-set", setting]
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == 2
    for task in written:  # the model's own task, or the template's with the precise reason
        meta = task["meta"]
        assert meta.get("writer", "").startswith("openai:") or meta.get("fallback_reason"), meta
    print("writer:", [t["meta"].get("writer") or t["meta"].get("fallback_reason") for t in written])


def test_distill_rewriter_and_judge_on_a_run(small_snapshot: Path, tasks, tmp_path) -> None:
    task_file = tmp_path / "tasks.jsonl"
    TaskSet(tasks[:2]).save(task_file)
    out = tmp_path / "run"
    base = ["run", "--tasks", str(task_file), "--catalog", str(small_snapshot), "--policy", "scripted",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert CliRunner().invoke(_app(), base, catch_exceptions=False).exit_code == 0
    traces = out / "traces.jsonl"
    distilled = tmp_path / "sft"
    args = ["distill", str(traces), "--out", str(distilled), "--rewriter", f"openai:{MODEL}",
            "--keep-rejected", "--min-tool-turns", "0", "--min-grounding", "0", "--rewrite-attempts", "1",
            "--concurrency", "1", "--no-progress"]  # fmt: skip
    for setting in SETTINGS:
        args += ["--llm-set", setting]
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert list(distilled.glob("*.jsonl")), result.output
    judged = tmp_path / "judge.jsonl"
    args = ["judge", str(out), "--reference", str(out), "--out", str(judged), "--llm-set", f"model={MODEL}",
            "--cache", str(tmp_path / "judge.sqlite"), "--max-attempts", "1", "--concurrency", "1"]  # fmt: skip
    for setting in SETTINGS:
        args += ["--llm-set", setting if not setting.startswith("max_tokens") else "max_tokens=200"]
    result = CliRunner().invoke(_app(), args, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    lines = [json.loads(line) for line in judged.read_text().splitlines()] if judged.is_file() else []
    assert lines or "error" in result.output.lower(), result.output
    print("judge:", result.output[-400:])
