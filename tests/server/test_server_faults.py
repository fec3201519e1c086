"""A server that dies, idles out or shuts down: clients get clear errors, nothing hangs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from server_helpers import TOKEN, ServerProcess

from harness.policies.scripted import ScriptedPolicy
from prgym.client import RemoteEnv, SessionLostError
from sandbox.tasks.taskset import load_tasks


@pytest.fixture
def lone_server(small_snapshot, server_tasks, tmp_path):
    proc = ServerProcess(small_snapshot, server_tasks, tmp_path / "server.log", "--idle-ttl", "2")
    yield proc
    proc.stop()


def test_server_killed_mid_episode_raises_a_clear_error(lone_server, server_tasks):
    task_id = next(iter(load_tasks(server_tasks))).task_id
    env = RemoteEnv(lone_server.url, token=TOKEN)
    try:
        _, info = env.reset(seed=2, options={"task_id": task_id})
        policy, tools = ScriptedPolicy(), info["tools"]
        _, _, _, _, info = env.step(policy.next_action(info["messages"], tools))
        lone_server.kill()
        with pytest.raises(SessionLostError) as lost:
            env.step(policy.next_action(info["messages"], tools))
        message = str(lost.value)
        assert lone_server.url in message and env.episode_id in message and "step 2" in message
        assert "episode in progress is lost" in message
        with pytest.raises(SessionLostError, match="lost the connection"):
            env.reset(seed=2, options={"task_id": task_id})  # the server is gone: no silent new session
    finally:
        env.close()


def test_idle_session_is_closed_and_sigterm_drains(lone_server, server_tasks):
    async def main():
        ws_url = lone_server.url.replace("http", "ws") + "/ws"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with websockets.connect(ws_url, additional_headers=auth) as idle:
            task_id = next(iter(load_tasks(server_tasks))).task_id
            await idle.send(json.dumps({"type": "reset", "data": {"task_id": task_id}}))
            assert json.loads(await idle.recv())["type"] == "observation"
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(idle.recv(), timeout=30)
        assert closed.value.rcvd.code == 4000 and "idle" in closed.value.rcvd.reason
        async with websockets.connect(ws_url, additional_headers=auth) as open_session:
            started = time.monotonic()
            lone_server.proc.send_signal(15)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as shut:
                await asyncio.wait_for(open_session.recv(), timeout=30)
            return shut.value.rcvd.code, time.monotonic() - started

    code, _ = asyncio.run(main())
    assert code == 1001
    assert lone_server.proc.wait(timeout=30) == 0
    events = [e["event"] for e in lone_server.log_events()]
    assert "session_idle_closed" in events and "drain_start" in events and "drain_done" in events


def test_a_step_past_the_timeout_ends_the_episode_and_the_server_goes_on(
    small_snapshot, server_tasks, tmp_path
):
    """Every reset and step takes longer than a 1 µs step timeout: the reply says so, the server keeps serving."""
    from openenv.core.generic_client import GenericEnvClient

    proc = ServerProcess(small_snapshot, server_tasks, tmp_path / "server.log", "--step-timeout", "0.000001")
    try:
        task_id = next(iter(load_tasks(server_tasks))).task_id
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with GenericEnvClient(base_url=proc.url, headers=headers).sync() as env:
            result = env.reset(task_id=task_id)
            error = result.observation["info"]["server_error"]
            assert result.done and result.observation["truncated"] and error["kind"] == "step_timeout"
            assert "step timeout" in error["message"]
            with pytest.raises(RuntimeError, match="open a new session"):
                env.reset(task_id=task_id)
        health = proc.health()
        assert health["status"] == "ok" and health["step_timeouts"] >= 1
        assert "step_timeout" in {e["event"] for e in proc.log_events()}
    finally:
        proc.stop()
