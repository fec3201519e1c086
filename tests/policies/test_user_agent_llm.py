"""The LLM user agent over real HTTP (ScriptedOpenAIServer + the openai client): strict parsing, corrective
retries, the template fallback with its reason, and the behaviour history in the request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
import typer
from policy_helpers import llm_config
from typer.testing import CliRunner

from harness.cli.tasks import app as tasks_app
from harness.llm import LLMClient
from harness.testing.openai_server import Reply
from harness.user_agent import LLMTaskWriter
from sandbox.tasks.feasibility import feasible_products
from sandbox.tasks.generator import agenerate_tasks, generate_task
from sandbox.tasks.history import TaskDraw, draw_history
from sandbox.tasks.persona import infer_persona
from sandbox.tasks.taskset import TaskSet
from sandbox.tasks.template_writer import write_task

SEED = 5
QUERY = "I keep buying these; find me another good one within my budget and compare at least 3 options."


def _valid_reply(backend: Any, index: int = 0) -> dict[str, Any]:
    """A task the model could write for task ``index``'s first history: feasible constraints, a valid rubric."""
    rng = np.random.default_rng([SEED, index])
    history = draw_history(backend, rng)
    template = write_task(TaskDraw(backend, history, infer_persona(history), rng, "x"))
    return {
        "query": QUERY,
        "persona": {"description": "a careful repeat buyer", "preferences": ["value for money"]},
        "intent": "replace a product they liked",
        "constraints": template.constraints.model_dump(mode="json", exclude_defaults=True),
        "rubric": template.rubric.model_dump(mode="json"),
    }


def _generate(server: Any, backend: Any, n: int = 1, **kwargs: Any) -> list[Any]:
    async def go() -> list[Any]:
        async with LLMClient(llm_config(server)) as client:
            writer = LLMTaskWriter(client, max_attempts=kwargs.pop("max_attempts", 3))
            return await agenerate_tasks(backend, n, SEED, writer=writer, **kwargs)

    return asyncio.run(go())


def test_valid_reply_becomes_the_task_and_the_history_is_in_the_request(
    backend, small_snapshot, llm_server, tmp_path
) -> None:
    reply = _valid_reply(backend)
    llm_server.push(Reply.text("```json\n" + json.dumps(reply) + "\n```"))
    app = typer.Typer()
    app.add_typer(tasks_app, name="tasks")
    out = tmp_path / "tasks.jsonl"
    args = ["tasks", "generate", "--catalog", str(small_snapshot), "-n", "1", "--seed", str(SEED),
            "--out", str(out), "--writer", "openai:writer-model", "--llm-set", f"base_url={llm_server.base_url}",
            "--llm-set", "max_retries=0", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (task,) = TaskSet.load(out)
    assert task.query == QUERY and task.task_id == f"ua-{SEED}-00000"
    assert task.meta["writer"] == "openai:writer-model" and task.meta["llm_attempts"] == 1
    assert task.meta["generator"] == "user-agent-llm-v1" and "fallback_reason" not in task.meta
    assert task.persona.description == "a careful repeat buyer"
    assert len(feasible_products(backend, task.constraints)) >= task.min_products + 1
    (request,) = llm_server.chat_requests()
    assert request.body["model"] == "writer-model"
    prompt = request.body["messages"][1]["content"]
    for item in task.meta["history"]["items"]:  # every history item reached the model
        assert item["product_id"] in prompt and item["title"] in prompt and item["event"] in prompt
    assert task.meta["history"]["category"] in prompt


def test_malformed_reply_is_retried_with_the_error(backend, llm_server) -> None:
    llm_server.push(
        Reply.text("Sure! Here is a task: buy a kettle."), Reply.text(json.dumps(_valid_reply(backend)))
    )
    (task,) = _generate(llm_server, backend)
    assert task.query == QUERY and task.meta["llm_attempts"] == 2
    first, second = llm_server.chat_requests()
    retry = second.body["messages"]
    assert retry[:2] == first.body["messages"]
    assert retry[2] == {"role": "assistant", "content": "Sure! Here is a task: buy a kettle."}
    assert "not valid" in retry[3]["content"] and "not JSON" in retry[3]["content"]


def _bad_weights(reply: dict[str, Any]) -> dict[str, Any]:
    reply["rubric"]["dimensions"][0]["weight"] = 0.9
    return reply


def _infeasible(reply: dict[str, Any]) -> dict[str, Any]:
    reply["constraints"]["budget_max"] = 0.01
    return reply


def _three_dimensions(reply: dict[str, Any]) -> dict[str, Any]:
    dims = reply["rubric"]["dimensions"]
    dims[0]["weight"] += dims.pop()["weight"]
    return reply


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_bad_weights, "weights must sum to 1"),
        (_infeasible, "catalog products meet them"),
        (_three_dimensions, "expected exactly"),
        (lambda r: {**r, "extra_field": 1}, "field extra_field"),
    ],
)
def test_always_malformed_falls_back_to_the_template(backend, llm_server, spoil, reason) -> None:
    bad = json.dumps(spoil(_valid_reply(backend)))
    llm_server.responder = lambda request: Reply.text(bad)
    (task,) = _generate(llm_server, backend, max_attempts=3)
    assert len(llm_server.chat_requests()) == 3
    assert task.meta["writer"] == "template-fallback" and task.meta["llm_attempts"] == 3
    assert reason in task.meta["fallback_reason"]
    template = generate_task(backend, SEED, 0)  # the same history, written by the template
    assert task.query == template.query and task.constraints == template.constraints


def test_failed_endpoint_falls_back_with_the_reason(backend, llm_server) -> None:
    llm_server.responder = lambda request: Reply.error(400, message="model not found")
    tasks = _generate(llm_server, backend, n=2, concurrency=2)
    assert [t.task_id for t in tasks] == [f"ua-{SEED}-00000", f"ua-{SEED}-00001"]
    assert all("LLM request failed (http_error" in t.meta["fallback_reason"] for t in tasks)


def test_a_reply_cut_at_max_tokens_is_named_so(backend, llm_server) -> None:
    cut = json.dumps(_valid_reply(backend))[:120]  # what a server sends when max_tokens runs out mid-object
    llm_server.responder = lambda request: Reply.text(cut, finish_reason="length")
    (task,) = _generate(llm_server, backend, max_attempts=1)
    assert task.meta["fallback_reason"].startswith("truncated at max_tokens: not JSON")
