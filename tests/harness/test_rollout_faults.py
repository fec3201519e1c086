"""Fault injection through the whole stack: runner -> episode loop -> env -> policy -> LLMClient -> openai ->
HTTP -> scripted server. Whatever the server does, every episode ends exactly once, completed or failed with a
reason, and none is lost."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from pathlib import Path

from harness_helpers import config_for

from harness.llm import EndpointLimits, LLMClient
from harness.rollout import OpenAIChatPolicy, RolloutJob, make_jobs, read_records, run_episode, run_rollouts
from harness.testing.echo_env import EchoToolEnv
from harness.testing.openai_server import RecordedRequest, Reply, ScriptedOpenAIServer

LLM_REASONS = {"llm_timeout", "llm_rate_limited", "llm_server_error", "llm_connection", "llm_bad_response"}


def chaos(request: RecordedRequest) -> Reply:
    """Faults chosen by a generator seeded from the request: always-failing tasks (``dead-*`` answer 500,
    ``slow-*`` answer past the timeout) and random faults elsewhere, on top of a 3-turn echo script."""
    messages = request.body["messages"]
    task = re.search(r"Task (\S+):", messages[1]["content"]).group(1)  # type: ignore[union-attr]
    if task.startswith("dead"):
        return Reply.error(500, message="model crashed")
    if task.startswith("slow"):
        return Reply(content="late", delay_s=1.0)
    turn = sum(m["role"] == "assistant" for m in messages)
    rng = random.Random(f"{task}/{turn}/{request.number}")
    roll = rng.random()
    if roll < 0.12:
        return Reply.error(429, retry_after=0.01)
    if roll < 0.22:
        return Reply.error(502)
    if roll < 0.27:
        return Reply(content="late", delay_s=1.0)
    if roll < 0.32:
        return Reply(content="x" * 500, truncate=True)
    if roll < 0.40:
        return Reply.tool("echo", '{"text": "broken', reasoning_content="oops")
    if roll < 0.45:
        return Reply(tool_calls=[{"name": "echo", "arguments": '{"te'}], finish_reason="length")
    if turn < 3:
        return Reply.tool("echo", {"text": f"turn {turn}"})
    return Reply.text("done")


def test_every_episode_ends_once_completed_or_failed_with_reason(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    server.responder = chaos
    tasks = [f"ok-{i}" for i in range(16)] + ["dead-1", "dead-2", "slow-1"]
    jobs = make_jobs(tasks, ["openai:test-model"], 2)

    limits = EndpointLimits()
    peak: list[int] = []

    async def go() -> object:
        client = LLMClient(
            config_for(server, timeout_s=0.25, max_retries=3, max_concurrency=6), limits=limits
        )

        async def episode(job: RolloutJob):  # noqa: ANN202
            return await run_episode(
                EchoToolEnv, OpenAIChatPolicy(client.session()), job.task_id, job.seed(), max_steps=12
            )

        try:
            return await run_rollouts(jobs, episode, tmp_path, concurrency=8, timeout_s=30, progress=False)
        finally:
            peak.append(limits.stats(server.base_url).peak_in_flight)  # type: ignore[union-attr]
            await client.aclose()

    summary = asyncio.run(go())
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert Counter(json.loads(line)["episode_key"] for line in lines) == Counter(j.episode_key for j in jobs)
    records = {r.episode_key: r for r in read_records(tmp_path)}
    for key, record in records.items():
        assert record.status in ("completed", "failed")
        if record.status == "failed":
            assert record.reason in LLM_REASONS, (key, record.reason, record.error)
            assert record.traceback and "LLMError" in record.traceback
    for trial in (0, 1):
        assert records[f"dead-1::openai:test-model::{trial}"].reason == "llm_server_error"
        assert records[f"slow-1::openai:test-model::{trial}"].reason == "llm_timeout"
        assert "after 4 attempt(s)" in records[f"slow-1::openai:test-model::{trial}"].error
    statuses = Counter(r.status for r in server.chat_requests())
    assert statuses[429] and statuses[500] and statuses[502]  # the faults really happened
    assert summary.missing == 0 and summary.completed + summary.failed == len(jobs)  # type: ignore[attr-defined]
    assert summary.completed >= 20  # type: ignore[attr-defined]  # retries carried most ok-* episodes through
    # Requests the client gave up on (timeouts) may still be sleeping in the server, so count on the client side.
    assert 1 <= peak[0] <= 6
