"""The verifiers taskset, loaded by verifiers' own plugin loader, one task driven and scored (needs verifiers:
runs in its own venv, see integrations/verifiers/README.md; skipped elsewhere)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytest.importorskip("verifiers.v1", reason="verifiers is not installed here (it has its own venv)")
pytest.importorskip("prgym_verifiers", reason="the prgym_verifiers plugin is not installed")

from verifiers.v1.configs.agent import AgentConfig  # noqa: E402
from verifiers.v1.trace import AgentInfo, Trace, TraceTask  # noqa: E402
from verifiers.v1.utils.loaders import load_taskset, taskset_class  # noqa: E402

from sandbox.env import ProductResearchEnv, shared_backend  # noqa: E402
from sandbox.tasks.generator import generate_tasks  # noqa: E402

PLAN = "Plan: search the catalog with the budget as a price filter, compare three products, then report."


@pytest.fixture(scope="module")
def task_file(small_snapshot: Path, tmp_path_factory) -> Path:
    tasks = generate_tasks(shared_backend(small_snapshot), 2, seed=7)
    path = tmp_path_factory.mktemp("vf") / "tasks.jsonl"
    path.write_text("".join(t.model_dump_json() + "\n" for t in tasks), encoding="utf-8")
    return path


@pytest.mark.skipif(
    not hasattr(ProductResearchEnv, "call_tool"), reason="needs the per-call env API (issue 11)"
)
def test_taskset_loads_and_one_task_is_scored_with_the_env_reward(small_snapshot, task_file):
    cls = taskset_class("prgym_verifiers")
    from prgym_verifiers.taskset import PrgymConfig

    config = PrgymConfig(id="prgym_verifiers", tasks=task_file, tools={"catalog": str(small_snapshot)})
    taskset = load_taskset(config)
    tasks = list(taskset)
    assert len(tasks) == 2 and tasks[0].key == tasks[0].data.task["task_id"]
    (toolset,) = cls.toolsets(config)
    task = tasks[0]
    trace = Trace(task=TraceTask(type="PrgymTask", data=task.data), agent=AgentInfo(config=AgentConfig()))
    trace.state = toolset._state_cls()

    async def episode() -> float:
        await task.setup(trace, None)
        names = [t.name for t in toolset.tools_for(trace.state)]
        assert {"submit_plan", "product_search", "submit_report"} <= set(names)
        toolset.call_for(trace.state, "submit_plan", {"plan": PLAN})
        found = toolset.call_for(trace.state, "product_search", {"query": "laptop"})
        assert not found.is_error and json.loads(found.content[0].text.split("\n\n", 1)[0])
        bad = toolset.call_for(trace.state, "visit_product", {"product_ids": ["no-such-id"]})
        assert bad.is_error  # a bad call is an observation
        await task.score(trace)
        return trace.rewards["prgym"].value

    reward = asyncio.run(episode())
    # the stopped rollout was scored by replay + finish(): same as finishing the live env
    env = ProductResearchEnv(small_snapshot, plan_mode="tool")
    env.reset(seed=task.data.seed, options={"task": task.data.task})
    env.call_tool("submit_plan", {"plan": PLAN})
    env.call_tool("product_search", {"query": "laptop"})
    env.call_tool("visit_product", {"product_ids": ["no-such-id"]})
    assert reward == pytest.approx(env.finish(truncated=True).reward)
