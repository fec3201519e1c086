"""``prgym run`` (the command function mounted on a Typer app): real env, real server, resume on rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from harness.rollout.cli import load_task_ids, parse_env_args, run
from harness.testing.openai_server import ScriptedOpenAIServer, tool_loop_responder

app = typer.Typer()
app.command("run")(run)
app.command("noop", hidden=True)(lambda: None)  # a second command keeps "run" a named sub-command

ENV = "harness.testing.echo_env:EchoToolEnv"


class Result:
    """Exit code and output with whitespace runs collapsed (rich wraps long lines)."""

    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code = exit_code
        self.output = " ".join(output.split())


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(app, ["run", *args], catch_exceptions=False)
    return Result(result.exit_code, result.output)


def test_run_then_rerun_resumes(server: ScriptedOpenAIServer, tmp_path: Path) -> None:
    server.responder = tool_loop_responder(turns=2)
    server.latency_s = 0.02
    out = tmp_path / "runs" / "echo"
    args = [
        "--task-ids", "a,b,c",
        "--policy", "openai:test-model",
        "--trials", "2",
        "--concurrency", "4",
        "--endpoint-concurrency", "2",
        "--out", str(out),
        "--env", ENV,
        "--llm-set", f"base_url={server.base_url}",
        "--llm-set", "temperature=0.4",
        "--no-progress",
    ]  # fmt: skip
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["episode_key"] for r in lines) == sorted(
        f"{t}::openai:test-model::{k}" for t in "abc" for k in (0, 1)
    )
    assert all(r["status"] == "completed" and r["reward"] == 1.0 and r["steps"] == 3 for r in lines)
    assert all(r["usage"]["calls"] == 3 for r in lines)
    assert server.max_in_flight <= 2  # --endpoint-concurrency: episodes per endpoint
    requests = server.chat_requests()
    assert len(requests) == 18 and all(r.body["temperature"] == 0.4 for r in requests)
    assert "6 run now" in first.output and "mean reward" in first.output

    second = invoke(*args)
    assert second.exit_code == 0, second.output
    assert "6 already finished, 0 run now" in second.output
    assert len(server.chat_requests()) == 18
    assert len((out / "results.jsonl").read_text().splitlines()) == 6


def test_bad_arguments_exit_with_a_message(tmp_path: Path) -> None:
    result = invoke("--task-ids", "a", "--policy", "gpt-4", "--out", str(tmp_path), "--env", ENV)
    assert (
        result.exit_code == 2 and "expected scripted, openai:MODEL or import:module:factory" in result.output
    )
    result = invoke(
        "--task-ids", "a", "--policy", "openai:m", "--out", str(tmp_path), "--env", "nowhere.mod:make"
    )
    assert result.exit_code == 2 and "cannot import nowhere.mod" in result.output
    result = invoke(
        "--task-ids", "a", "--policy", "openai:m", "--out", str(tmp_path), "--env", ENV, "--llm-set", "temperature=9"
    )  # fmt: skip
    assert result.exit_code == 2 and "temperature (from override)" in result.output


def test_env_args_reach_the_env_factory(server: ScriptedOpenAIServer, tmp_path: Path) -> None:
    server.responder = tool_loop_responder(turns=5)
    args = ["--task-ids", "a", "--policy", "openai:m", "--out", str(tmp_path), "--env", ENV, "--no-progress"]
    result = invoke(*args, "--env-arg", "max_turns=1", "--llm-set", f"base_url={server.base_url}")
    assert result.exit_code == 0, result.output
    (line,) = (tmp_path / "results.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["steps"] == 1 and record["truncated"] is True and record["reward"] == 0.0
    bad = invoke(*args, "--env-arg", "max_turns")
    assert bad.exit_code == 2 and "expected key=value" in bad.output
    assert parse_env_args(["snapshot=snapshots/combined", "n=3", "flags=[1, 2]"]) == {
        "snapshot": "snapshots/combined",
        "n": 3,
        "flags": [1, 2],
    }


def test_gym_ids_are_checked(tmp_path: Path) -> None:
    result = invoke(
        "--task-ids", "a", "--policy", "openai:m", "--out", str(tmp_path), "--env", "gym:nope/Nope-v0"
    )
    assert result.exit_code == 2 and "Namespace nope not found" in result.output


def test_task_files(tmp_path: Path) -> None:
    plain = tmp_path / "tasks.txt"
    plain.write_text("# dev split\nsb-1\n\nsb-2\n")
    assert load_task_ids(str(plain)) == ["sb-1", "sb-2"]
    rows = tmp_path / "tasks.jsonl"
    rows.write_text('{"task_id": "x"}\n{"id": 7}\n')
    assert load_task_ids(str(rows)) == ["x", "7"]
    assert load_task_ids("a, b,,c") == ["a", "b", "c"]


def test_tasks_is_a_file_and_task_ids_a_list(tmp_path: Path, capsys) -> None:
    from harness.rollout.cli import SetupError, resolve_task_ids

    ids = tmp_path / "ids.txt"
    ids.write_text("t-1\nt-2\n")
    assert resolve_task_ids(ids, None) == ["t-1", "t-2"]
    assert resolve_task_ids(None, "a,b") == ["a", "b"]
    assert capsys.readouterr().err == ""
    assert resolve_task_ids(Path("a,b"), None) == ["a", "b"]  # the old spelling: still read, with a note
    assert capsys.readouterr().err == "note: --tasks a,b,c is deprecated; use --task-ids a,b,c\n"
    for tasks, task_ids, message in [
        (tmp_path / "missing.txt", None, "missing.txt: no such file"),
        (None, None, "give one of --tasks FILE or --task-ids a,b,c"),
        (ids, "a", "give one of --tasks FILE or --task-ids a,b,c"),
    ]:
        with pytest.raises(SetupError, match=message):
            resolve_task_ids(tasks, task_ids)
