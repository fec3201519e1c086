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


class _SlowPage:
    """A page server on 127.0.0.1 whose reply waits until the test releases it (the step stays in flight)."""

    BODY = b"<html><head><title>Kettle notes</title></head><body><p>The Zephyr-42 kettle boils a litre in 97 seconds.</p></body></html>"

    def __init__(self) -> None:
        import http.server
        import threading

        self.requested = threading.Event()
        self.release = threading.Event()
        page = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                page.requested.set()
                page.release.wait(timeout=60)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page.BODY)))
                self.end_headers()
                self.wfile.write(page.BODY)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_sigterm_lets_the_step_in_flight_finish_and_send_its_reply(small_snapshot, server_tasks, tmp_path):
    """SIGTERM while a web_visit step is waiting on its page: that step's observation still arrives, then 1001.

    The page server holds its reply until the server has logged ``drain_start``, so the step is in flight when
    the drain begins, whatever the machine's speed; new connections are refused (503) meanwhile.
    """
    page = _SlowPage()
    web = {
        "provider": "searxng",  # web_search is never called; web_visit reads the page over HTTP
        "base_url": page.url,
        "mode": "live",
        "fetch": {"allow_networks": ["127.0.0.1/32"], "retry": {"max_attempts": 1}},
    }
    proc = ServerProcess(small_snapshot, server_tasks, tmp_path / "server.log", "--web", json.dumps(web))
    try:

        async def main():
            ws_url = proc.url.replace("http", "ws") + "/ws"
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with websockets.connect(ws_url, additional_headers=auth) as ws:
                task_id = next(iter(load_tasks(server_tasks))).task_id
                reset = {"type": "reset", "data": {"task_id": task_id, "plan_mode": "none"}}
                await ws.send(json.dumps(reset))
                reply = json.loads(await ws.recv())
                tools = [t["function"]["name"] for t in reply["data"]["observation"]["info"]["tools"]]
                assert "web_visit" in tools
                visit = {"urls": [page.url + "/kettle"], "goal": "how long the Zephyr-42 takes to boil"}
                await ws.send(json.dumps({"type": "step", "data": {"tool": "web_visit", "arguments": visit}}))
                assert await asyncio.to_thread(page.requested.wait, 60), "the step never reached the page"
                proc.proc.send_signal(15)
                for _ in range(600):  # until the server has begun draining (bounded; no timing asserted)
                    if "drain_start" in {e["event"] for e in proc.log_events()}:
                        break
                    await asyncio.sleep(0.05)
                assert proc.proc.poll() is None and proc.health()["status"] == "draining"
                with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                    await websockets.connect(ws_url, additional_headers=auth)
                assert refused.value.response.status_code == 503
                page.release.set()
                step = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
                with pytest.raises(websockets.exceptions.ConnectionClosed) as shut:
                    await asyncio.wait_for(ws.recv(), timeout=60)
                return step, shut.value.rcvd

        step, close = asyncio.run(main())
        assert step["type"] == "observation", step
        observation = step["data"]["observation"]
        assert "97 seconds" in observation["text"] and not step["data"]["done"]
        assert observation["info"]["step"] == 1
        assert close.code == 1001 and "shutting down" in close.reason
        assert proc.proc.wait(timeout=60) == 0
        events = proc.log_events()
        names = [e["event"] for e in events]
        assert names.index("drain_start") < names.index("drain_done")
        assert next(e for e in events if e["event"] == "drain_done")["drained"] is True
    finally:
        proc.stop()
        page.close()


def test_a_bad_web_config_is_refused_with_the_field_named(small_snapshot):
    import subprocess
    import sys

    from server_helpers import REPO

    args = [
        sys.executable,
        "-m",
        "harness.cli",
        "serve",
        "--catalog",
        str(small_snapshot),
        "--insecure-no-auth",
    ]
    bad = subprocess.run(
        [*args, "--web", '{"fetch": {"timeout_s": -1}}'],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0
    assert "web: fetch.timeout_s: Input should be greater than 0" in bad.stdout + bad.stderr
    missing = subprocess.run(
        [*args, "--web", "no-such.json"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert (
        missing.returncode != 0
        and "--web no-such.json: expected a JSON object" in missing.stdout + missing.stderr
    )
