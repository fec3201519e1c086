"""OpenEnv's ``ResourceSessionFactory`` harness API over a real server: our schemas, call_tool, verify()."""

from __future__ import annotations

import json

import pytest
from openenv.core.harness import MCPHarnessAdapter, ResourceSessionFactory, SessionMCPBridge
from server_helpers import TOKEN

from prgym.harness import PrgymSessionFactory
from sandbox.env import ProductResearchEnv
from sandbox.tasks.taskset import load_tasks

pytestmark = pytest.mark.skipif(
    not hasattr(ProductResearchEnv, "call_tool"), reason="needs the per-call env API (issue 11)"
)


def test_sessions_expose_our_schemas_and_verify_is_finish(server, server_tasks, small_snapshot):
    factory = PrgymSessionFactory(server.url, token=TOKEN)
    assert isinstance(factory, ResourceSessionFactory)
    task = next(iter(load_tasks(server_tasks)))
    session = factory.create(task.model_dump(mode="json"), seed=4, episode_id="ep-1")
    try:
        local = ProductResearchEnv(small_snapshot, plan_mode="tool")
        _, info = local.reset(seed=4, options={"task": task.model_dump(mode="json")})
        tools = {t.name: t.input_schema for t in session.list_tools()}
        assert tools == {t["function"]["name"]: t["function"]["parameters"] for t in info["tools"]}
        assert session.initial_messages() == info["messages"]
        bridge = SessionMCPBridge(session)  # OpenEnv's own MCP bridge over the session
        listed = bridge.handle_request({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert {t["name"] for t in listed["result"]["tools"]} == set(tools)
        plan = {"plan": "Plan: search with the budget as a filter, compare three products, report."}
        assert not session.call_tool("submit_plan", plan).done
        result = session.call_tool("product_search", {"query": "laptop"})
        assert json.loads(result.data.split("\n\n", 1)[0])["hits"] and result.error is None
        bad = session.call_tool("visit_product", {"product_ids": ["no-such-id"]})
        assert bad.error and not bad.done  # a bad call is an observation
        verdict = session.verify([])
        local.call_tool("submit_plan", plan)
        local.call_tool("product_search", {"query": "laptop"})
        local.call_tool("visit_product", {"product_ids": ["no-such-id"]})
        assert verdict.env_reward == pytest.approx(local.finish(truncated=True).reward)
        assert session.verify([]).env_reward == verdict.env_reward  # finish() is idempotent
        assert MCPHarnessAdapter  # the adapter TRL uses drives exactly this session type
    finally:
        session.close()
