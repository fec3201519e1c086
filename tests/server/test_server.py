"""``prgym serve`` over the real OpenEnv client: episodes in both action forms, auth, isolation, bounds."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from openenv.core.generic_client import GenericEnvClient
from server_helpers import TOKEN

from harness.policies.scripted import ScriptedPolicy
from harness.rollout.episode import run_episode
from prgym.client import RemoteEnv, ServerRejectedError
from sandbox.env import ProductResearchEnv
from sandbox.tasks.taskset import load_tasks

AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_STEPS = 30


def client(server, token: str | None = TOKEN) -> GenericEnvClient:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return GenericEnvClient(base_url=server.url, headers=headers, message_timeout_s=60).sync()


def first_task_id(server_tasks) -> str:
    return next(iter(load_tasks(server_tasks))).task_id


def test_message_form_episode_with_the_openenv_client(server, server_tasks, small_snapshot):
    """One assistant message per step, driven by the scripted agent: the same episode as in-process."""
    task_id = first_task_id(server_tasks)
    with client(server) as env:
        result = env.reset(seed=3, task_id=task_id)
        info = result.observation["info"]
        messages, tools = list(info["messages_delta"]), info["tools"]
        assert info["task_id"] == task_id and info["session_id"] and not result.done
        policy, rewards = ScriptedPolicy(), []
        for _ in range(MAX_STEPS):
            result = env.step({"message": policy.next_action(messages, tools)})
            step_info = result.observation["info"]
            assert step_info["messages_start"] == len(messages)
            messages += step_info["messages_delta"]
            rewards.append(result.reward)
            if result.done:
                break
        assert result.done and result.observation["terminated"]
        assert step_info["reward_components"] and rewards[-1] > 0
    local = ProductResearchEnv(small_snapshot, tasks=server_tasks)
    _, local_info = local.reset(seed=3, options={"task_id": task_id})
    policy, reward = ScriptedPolicy(), None
    msgs, local_tools = local_info["messages"], local_info["tools"]
    for _ in range(MAX_STEPS):
        _, reward, term, trunc, local_info = local.step(policy.next_action(msgs, local_tools))
        msgs = local_info["messages"]
        if term or trunc:
            break
    assert messages == msgs and rewards[-1] == pytest.approx(reward)


@pytest.mark.skipif(
    not hasattr(ProductResearchEnv, "call_tool"), reason="needs the per-call env API (issue 11)"
)
def test_tool_form_episode_with_the_openenv_client(server, server_tasks):
    """One tool call per step (plan_mode=tool: the plan is a submit_plan call), then finish() as verify."""
    with client(server) as env:
        result = env.reset(seed=1, task_id=first_task_id(server_tasks), plan_mode="tool")
        info = result.observation["info"]
        names = [t["function"]["name"] for t in info["tools"]]
        assert "submit_plan" in names and "product_search" in names
        plan = "Plan: search the catalog with the budget as a price filter, compare three products, report."
        result = env.step({"tool": "submit_plan", "arguments": {"plan": plan}})
        assert not result.done
        result = env.step({"tool": "product_search", "arguments": {"query": "headphones"}})
        hits = json.loads(result.observation["text"].split("\n\n", 1)[0])["hits"]
        assert hits and not result.done
        result = env.step(
            {"tool": "visit_product", "arguments": json.dumps({"product_ids": [hits[0]["id"]]})}
        )
        assert hits[0]["id"] in result.observation["text"]
        scored = env.step({"finish": True})
        assert scored.done and scored.observation["truncated"]
        assert set(scored.observation["info"]["reward_components"])
        again = env.step({"finish": True})
        assert again.reward == scored.reward  # finish() is idempotent


def test_remote_env_runs_the_rollout_loop(server, server_tasks):
    """``RemoteEnv`` keeps the local env's contract, so the rollout loop drives it unchanged."""
    task_id = first_task_id(server_tasks)

    async def main():
        return await run_episode(
            lambda: RemoteEnv(server.url, token=TOKEN), ScriptedPolicy(), task_id, seed=3
        )

    outcome = asyncio.run(main())
    assert outcome.terminated and outcome.reward > 0 and outcome.reward_components
    assert outcome.info["task_id"] == task_id and outcome.info["catalog_snapshot"]
    env = RemoteEnv(server.url, token=TOKEN)
    try:
        _, info = env.reset(seed=3, options={"task_id": task_id})
        assert info["messages"][0]["role"] == "system" and info["tools"]
        text, reward, terminated, truncated, info = env.step(
            "Plan: search, compare three products and report."
        )
        assert len(info["messages"]) == 4 and not terminated and not truncated
        with pytest.raises(ServerRejectedError, match="no task .no-such-task."):
            env.reset(options={"task_id": "no-such-task"})
    finally:
        env.close()


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_wrong_token_is_refused_and_nothing_runs(server, token):
    before = server.health()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for method, path in (("POST", "/reset"), ("GET", "/schema"), ("GET", "/state"), ("POST", "/step")):
        response = httpx.request(method, server.url + path, headers=headers, json={}, timeout=5)
        assert response.status_code == 401, path
        assert "token" in response.json()["error"]
    with pytest.raises(ConnectionError, match="401"):
        client(server, token).reset()
    with pytest.raises(ServerRejectedError, match="401"):
        RemoteEnv(server.url, token=token or "").reset()
    after = server.health()
    assert after["episodes"] == before["episodes"] and after["steps"] == before["steps"]
    assert after["sessions"] == 0
    assert httpx.post(server.url + "/reset", headers=AUTH, json={}, timeout=30).status_code == 200


def test_a_session_cannot_be_reached_from_another_connection(server, server_tasks):
    task_id = first_task_id(server_tasks)
    with client(server) as owner:
        info = owner.reset(seed=5, task_id=task_id).observation["info"]
        session_id = info["session_id"]
        assert session_id in {e.get("session") for e in server.log_events()}

        async def intrude() -> list:
            seen = []
            ws_url = server.url.replace("http", "ws") + "/ws"
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(f"{ws_url}?session_id={session_id}", additional_headers=AUTH):
                    pass
            seen.append(refused.value.response.status_code)
            async with websockets.connect(ws_url, additional_headers=AUTH) as other:
                close = {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "openenv/session/close",
                    "params": {"session_id": session_id},
                }
                await other.send(json.dumps({"type": "mcp", "data": close}))
                seen.append(json.loads(await other.recv()))
                await other.send(json.dumps({"type": "step", "data": {"message": "Plan: take over."}}))
                seen.append(json.loads(await other.recv()))
            mcp = httpx.post(
                server.url + "/mcp", headers=AUTH, json={"jsonrpc": "2.0", "id": 2, **close}, timeout=5
            )
            seen.append(mcp.status_code)
            return seen

        status, mcp_reply, step_reply, http_mcp = asyncio.run(intrude())
        assert status == 403
        assert mcp_reply["type"] == "error" and "MCP" in mcp_reply["data"]["message"]
        assert step_reply["type"] == "error" and "reset" in step_reply["data"]["message"]
        assert http_mcp == 404
        # the owner's episode is untouched and goes on
        result = owner.step({"message": "Plan: search the catalog for the request, compare three products."})
        assert result.observation["info"]["step"] == 1
        assert owner.state()["episode_id"] == info["episode_id"]


def test_oversized_and_malformed_frames_get_errors_and_the_session_goes_on(server, server_tasks):
    async def main() -> list:
        replies = []
        ws_url = server.url.replace("http", "ws") + "/ws"
        async with websockets.connect(ws_url, additional_headers=AUTH, max_size=None) as ws:

            async def ask(frame: str) -> dict:
                await ws.send(frame)
                return json.loads(await ws.recv())

            reset = {"type": "reset", "data": {"seed": 1, "task_id": first_task_id(server_tasks)}}
            replies.append(await ask(json.dumps(reset)))
            big = {"type": "step", "data": {"message": "Plan: " + "x" * 100_000}}
            replies.append(await ask(json.dumps(big)))
            replies.append(await ask("{this is not json"))
            replies.append(await ask(json.dumps({"type": "step", "data": {"bogus": 1}})))
            replies.append(
                await ask(json.dumps({"type": "step", "data": {"message": "Plan: compare three products."}}))
            )
        return replies

    reset, big, bad_json, bad_action, step = asyncio.run(main())
    assert reset["type"] == "observation"
    assert big["type"] == "error" and big["data"]["code"] == "MESSAGE_TOO_LARGE"
    assert "65536 bytes" in big["data"]["message"]
    assert bad_json["type"] == "error" and bad_json["data"]["code"] == "INVALID_JSON"
    assert bad_action["type"] == "error" and bad_action["data"]["code"] == "VALIDATION_ERROR"
    assert step["type"] == "observation" and step["data"]["observation"]["info"]["step"] == 1
    big_http = httpx.post(
        server.url + "/reset", headers=AUTH, content=b"{" + b" " * 2_000_000 + b"}", timeout=10
    )
    assert big_http.status_code == 413
    assert server.health()["status"] == "ok"
