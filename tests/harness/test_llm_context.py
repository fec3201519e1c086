"""Context and time limits (issue 18 item 4) over real HTTP against the scripted server: the research agent trims
a chat to ``max_context_tokens`` or to the size the server reported (preflight ``/models``, llama.cpp ``/props``,
or a refusal's text) before sending it; a length refusal ends the episode once as ``llm_context_length_exceeded``;
local profiles' timeouts grow with the prompt; a refused connection, a timeout and a 5xx are three reasons."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from harness_helpers import config_for

from harness.llm import EndpointLimits, LLMClient, LLMError
from harness.llm.compat import estimate_tokens
from harness.llm.context import REPORTED_CONTEXT, ContextSize, context_limit, from_error
from harness.policies.context import TrimStrategy
from harness.policies.openai_agent import ResearchAgentPolicy
from harness.rollout import RolloutJob, make_jobs, read_records, run_episode, run_rollouts
from harness.rollout.preflight import check_llm_endpoint
from harness.testing.echo_env import ECHO_TOOLS, EchoToolEnv
from harness.testing.openai_server import RecordedRequest, Reply, ScriptedOpenAIServer

TOOL_RESULT = "product record " * 150  # 2,250 characters, about 640 estimated tokens


def long_chat(results: int = 12) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You research products."},
        {"role": "user", "content": "Task t: find a kettle"},
    ]
    for i in range(results):
        call = {"id": f"c{i}", "type": "function", "function": {"name": "echo", "arguments": '{"text": "x"}'}}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append(
            {"role": "tool", "tool_call_id": f"c{i}", "name": "echo", "content": f"{i} {TOOL_RESULT}"}
        )
    return messages


def sent_by_agent(server: ScriptedOpenAIServer, **config: Any) -> tuple[dict[str, Any], ResearchAgentPolicy]:
    server.push(Reply.text("done"))

    async def go() -> ResearchAgentPolicy:
        async with LLMClient(config_for(server, **config), limits=EndpointLimits()) as client:
            policy = ResearchAgentPolicy(client, trim=TrimStrategy())
            await policy.act(long_chat(), ECHO_TOOLS)
            return policy

    policy = asyncio.run(go())
    return server.chat_requests()[-1].body, policy


def stubbed(body: dict[str, Any]) -> int:
    return sum(1 for m in body["messages"] if m.get("role") == "tool" and m["content"].startswith("[trimmed"))


def test_without_a_known_context_only_the_strategy_trims(server: ScriptedOpenAIServer) -> None:
    body, policy = sent_by_agent(server)
    assert stubbed(body) == 12 - 8  # keep_last_tool_results=8; the 120,000-character cap is far away
    assert "context_limit" not in policy.sent[0]


def test_max_context_tokens_trims_the_chat_to_fit(server: ScriptedOpenAIServer) -> None:
    body, policy = sent_by_agent(server, max_context_tokens=4000, max_tokens=256)
    estimate = estimate_tokens(body["messages"], body["tools"])
    assert estimate <= 4000 - 256 and 4 < stubbed(body) < 12
    newest = body["messages"][-1]
    assert newest["content"].startswith("11 product record")  # the newest results stay in full
    assert policy.sent[0] == {
        "messages": 26, "stubbed_tool_results": stubbed(body), "estimated_tokens": estimate, "context_limit": 4000
    }  # fmt: skip
    # a context too small for even two full results: the newest are stubbed too (one kept, then none)
    body, _ = sent_by_agent(server, max_context_tokens=1000, max_tokens=64)
    assert stubbed(body) == 12 and estimate_tokens(body["messages"], body["tools"]) <= 1000 - 64


def test_the_size_the_server_reports_is_used(tmp_path: Path) -> None:
    routes = {"/v1/models": {"data": [{"id": "test-model", "owned_by": "vllm", "max_model_len": 4000}]}}
    with ScriptedOpenAIServer(get_routes=routes) as server:
        config = config_for(server)
        asyncio.run(check_llm_endpoint(config))  # the run's preflight check
        assert REPORTED_CONTEXT.get(server.base_url) == ContextSize(4000, "/models max_model_len")
        assert context_limit(config) == 4000
        assert (
            context_limit(config.model_copy(update={"max_context_tokens": 9000})) == 9000
        )  # the setting wins
        body, policy = sent_by_agent(server, max_tokens=256)
    assert estimate_tokens(body["messages"], body["tools"]) <= 4000 - 256
    assert policy.sent[0]["context_limit"] == 4000
    props = {"/props": {"default_generation_settings": {"n_ctx": 3072}}}
    with ScriptedOpenAIServer(get_routes=props) as server:
        asyncio.run(check_llm_endpoint(config_for(server, compat="llamacpp")))
        assert REPORTED_CONTEXT.get(server.base_url) == ContextSize(
            3072, "/props default_generation_settings.n_ctx"
        )


REFUSALS = [
    (400, "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens", 4096),
    (500, "Requested tokens (9000) exceed context window of 8192", 8192),  # llama-cpp-python
    (400, "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it", 4096),
    (400, "the request exceeds the available context size, try increasing it", None),  # older llama.cpp
]


@pytest.mark.parametrize(("status", "message", "size"), REFUSALS)
def test_a_length_refusal_ends_the_episode_once(
    server: ScriptedOpenAIServer, tmp_path: Path, status: int, message: str, size: int | None
) -> None:
    server.responder = lambda request: Reply.error(status, message=message)
    jobs = make_jobs(["t1", "t2"], ["openai:test-model"], 1)

    async def go() -> None:
        async with LLMClient(config_for(server, max_retries=4), limits=EndpointLimits()) as client:

            async def episode(job: RolloutJob):  # noqa: ANN202
                policy = ResearchAgentPolicy(client.session())
                return await run_episode(EchoToolEnv, policy, job.task_id, job.seed(), max_steps=6)

            await run_rollouts(jobs, episode, tmp_path, concurrency=1, progress=False)

    asyncio.run(go())
    records = read_records(tmp_path)
    assert [r.reason for r in records] == ["llm_context_length_exceeded"] * 2
    assert "after 1 attempt(s)" in records[0].error
    assert len(server.chat_requests()) == 2  # one request per episode: no retry
    learnt = REPORTED_CONTEXT.get(server.base_url)
    assert (learnt.tokens if learnt else None) == size


def test_refusal_texts_name_their_size() -> None:
    assert from_error("maximum context length is 32768 tokens") == ContextSize(32768, "the server's refusal")
    assert from_error("n_ctx: 2048, requested 3000") == ContextSize(2048, "the server's refusal")
    assert from_error("model crashed") is None


def test_local_profiles_wait_longer_for_long_prompts(server: ScriptedOpenAIServer) -> None:
    """A reply slower than ``timeout_s``: a timeout for an openai endpoint, an answer for a local one whose
    timeout grows by the prompt's tokens at ``prompt_tokens_per_s``."""
    server.responder = lambda request: Reply.text("slow but fine", delay_s=1.0)
    chat = [{"role": "user", "content": "word " * 400}]  # about 570 estimated tokens

    async def call(**config: Any) -> str:
        async with LLMClient(config_for(server, timeout_s=0.4, max_retries=0, **config)) as client:
            try:
                return (await client.chat(chat)).content or ""
            except LLMError as exc:
                return exc.reason

    assert asyncio.run(call(compat="openai")) == "timeout"
    assert asyncio.run(call(compat="llamacpp", prompt_tokens_per_s=50)) == "slow but fine"  # 0.4 s + 11 s
    assert asyncio.run(call(compat="ollama", prompt_tokens_per_s=50)) == "slow but fine"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_timeout_and_5xx_are_distinct_episode_reasons(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    def respond(request: RecordedRequest) -> Reply:
        task = request.body["messages"][1]["content"]
        return Reply.text("late", delay_s=1.0) if "slow" in task else Reply.error(503, message="overloaded")

    server.responder = respond
    refused_url = f"http://127.0.0.1:{_free_port()}/v1"
    jobs = make_jobs(["refused", "slow", "down"], ["openai:test-model"], 1)

    async def go() -> None:
        limits = EndpointLimits()
        live = LLMClient(config_for(server, timeout_s=0.3, max_retries=1), limits=limits)
        dead = LLMClient(config_for(server, base_url=refused_url, max_retries=1), limits=limits)

        async def episode(job: RolloutJob):  # noqa: ANN202
            client = dead if job.task_id == "refused" else live
            return await run_episode(
                EchoToolEnv, ResearchAgentPolicy(client.session()), job.task_id, job.seed()
            )

        try:
            await run_rollouts(jobs, episode, tmp_path, concurrency=3, progress=False)
        finally:
            await live.aclose()
            await dead.aclose()

    asyncio.run(go())
    reasons = {r.task_id: r.reason for r in read_records(tmp_path)}
    assert reasons == {"refused": "llm_connection_refused", "slow": "llm_timeout", "down": "llm_server_error"}
