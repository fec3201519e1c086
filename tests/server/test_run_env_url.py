"""``prgym run --env-url``: episodes spread over two real servers; one is killed mid-episode and that episode
runs again on the other, recorded exactly once (result and trace)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from server_helpers import TOKEN, ServerProcess
from typer.testing import CliRunner

import harness.rollout.prgym as run_module
from harness.cli import app
from harness.policies.scripted import ScriptedPolicy
from sandbox.tasks.taskset import load_tasks


@pytest.fixture
def two_servers(small_snapshot, tmp_path):
    servers = [ServerProcess(small_snapshot, None, tmp_path / f"server{i}.log") for i in range(2)]
    yield servers
    for server in servers:
        server.stop()


def test_a_dropped_episode_reruns_on_another_server_and_is_recorded_once(
    two_servers, server_tasks, tmp_path, monkeypatch
):
    first, second = two_servers
    actions = Counter()

    class KillsTheFirstServer(ScriptedPolicy):
        """The scripted agent; its third action of the whole run kills the first server (mid-episode)."""

        async def act(self, messages, tools):
            actions["n"] += 1
            if actions["n"] == 3:
                first.kill()
            return await super().act(messages, tools)

    spec = run_module.PolicySpec(KillsTheFirstServer, None, {"teacher": "scripted", "policy": "scripted"})
    monkeypatch.setattr(run_module, "policy_factory", lambda *a, **k: spec)
    tasks = load_tasks(server_tasks)
    out = tmp_path / "run"
    summary = asyncio.run(
        run_module.run_tasks(
            tasks=tasks,
            catalog=None,
            policies=["scripted"],
            trials=1,
            out=out,
            concurrency=1,
            progress=False,
            env_urls=[first.url, second.url],
            env_token=TOKEN,
        )
    )
    assert summary.failed == 0 and summary.completed == len(tasks)
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    traces = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
    keys = [r["key"] if "key" in r else r["episode_key"] for r in results]
    assert len(keys) == len(set(keys)) == len(tasks)
    assert sorted(t["episode_id"] for t in traces) == sorted(keys) and all(t["finished"] for t in traces)
    retried = [r for r in results if r["info"]["attempts"] > 1]
    assert len(retried) == 1 and retried[0]["info"]["env_url"] == second.url
    assert all(r["info"]["env_url"] == second.url for r in results)  # the first server is down for the run
    assert all(r["reward"] > 0 for r in results)


def test_cli_needs_a_catalog_or_an_env_url(server_tasks, tmp_path):
    result = CliRunner().invoke(app, ["run", "--tasks", str(server_tasks), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--env-url" in result.output
    result = CliRunner().invoke(
        app, ["run", "--tasks", str(server_tasks), "--out", str(tmp_path / "o"), "--env-url", "ftp://x"]
    )
    assert result.exit_code == 2 and "expected an http" in result.output
