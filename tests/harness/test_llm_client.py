"""LLMClient end to end: the real ``openai`` package over real HTTP against the scripted server.

Covers replies (text, tool calls, parallel tool calls, reasoning content, usage), what the request carries, and
fault injection (429 with Retry-After, 500, slow replies past the timeout, malformed tool-call JSON, truncated
bodies, finish_reason "length", non-retryable 4xx).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
from typing import Any

import pytest
from harness_helpers import RecordingSleep, config_for

from harness.llm import LLMClient, LLMConfig, LLMError, UsageMeter, backoff_delay
from harness.llm.limits import EndpointLimits
from harness.testing.openai_server import Reply, ScriptedOpenAIServer

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "find a blue kettle"}]
TOOLS = [
    {
        "type": "function",
        "function": {"name": "product_search", "parameters": {"type": "object", "properties": {}}},
    }
]

HAS_AIOHTTP = importlib.util.find_spec("aiohttp") is not None
BACKENDS = [
    "httpx",
    pytest.param("aiohttp", marks=pytest.mark.skipif(not HAS_AIOHTTP, reason="aiohttp is not installed")),
]


def chat(server: ScriptedOpenAIServer, sleep: RecordingSleep | None = None, **config: Any) -> Any:
    """One call with a fresh client; returns (result or exception, client)."""

    async def go() -> tuple[Any, LLMClient]:
        client = LLMClient(config_for(server, **config), sleep=sleep, limits=EndpointLimits())
        try:
            return await client.chat(MESSAGES, TOOLS), client
        except LLMError as exc:
            return exc, client
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("backend", BACKENDS)
def test_text_reply_and_usage(server: ScriptedOpenAIServer, backend: str) -> None:
    server.push(Reply.text("Here are three kettles.", prompt_tokens=17, completion_tokens=5))
    result, client = chat(server, http_backend=backend)
    assert result.message == {"role": "assistant", "content": "Here are three kettles."}
    assert result.finish_reason == "stop"
    assert result.attempts == 1
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (
        17,
        5,
        22,
    )
    assert client.usage.calls == 1 and client.usage.tokens.total_tokens == 22


def test_request_carries_model_sampling_tools_extra_body_and_key(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.text("ok"))
    chat(server, temperature=0.3, top_p=0.9, max_tokens=64, seed=7, extra_body={"top_k": 20})
    (request,) = server.chat_requests()
    body = request.body
    assert body["model"] == "test-model"
    assert body["messages"] == MESSAGES
    assert body["tools"] == TOOLS
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"], body["top_k"]) == (
        0.3,
        0.9,
        64,
        7,
        20,
    )
    assert "stream" not in body or body["stream"] is False
    assert request.headers["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_and_parallel_tool_calls_are_kept_verbatim(server: ScriptedOpenAIServer, backend: str) -> None:
    server.push(
        Reply.tool("product_search", {"query": "kettle"}),
        Reply.tools(
            ("product_search", {"query": "blue kettle", "page": 2}),
            ("visit_product", '{"product_ids": ["p1", "p2"]}'),
            ("calculate", {"expression": "3*19.99"}),
        ),
    )

    async def go() -> list[Any]:
        async with LLMClient(config_for(server, http_backend=backend)) as client:
            return [await client.chat(MESSAGES, TOOLS), await client.chat(MESSAGES, TOOLS)]

    single, parallel = asyncio.run(go())
    assert single.finish_reason == "tool_calls"
    assert single.content is None and single.message["content"] is None
    (call,) = single.tool_calls
    assert call["type"] == "function" and call["id"]
    assert call["function"] == {"name": "product_search", "arguments": '{"query": "kettle"}'}
    assert [c["function"]["name"] for c in parallel.tool_calls] == [
        "product_search",
        "visit_product",
        "calculate",
    ]
    assert parallel.tool_calls[1]["function"]["arguments"] == '{"product_ids": ["p1", "p2"]}'
    assert len({c["id"] for c in parallel.tool_calls}) == 3


def test_reasoning_content_is_kept(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.tool("product_search", {"query": "kettle"}, reasoning_content="The user wants blue."))
    result, _ = chat(server)
    assert result.reasoning_content == "The user wants blue."
    assert result.message["reasoning_content"] == "The user wants blue."
    assert result.tool_calls[0]["function"]["name"] == "product_search"


def test_reasoning_field_spelled_reasoning_is_kept_as_reasoning_content(server: ScriptedOpenAIServer) -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi", "reasoning": "r"},
            }
        ],
    }
    server.push(Reply(raw_body=json.dumps(body)))
    result, client = chat(server)
    assert result.message == {"role": "assistant", "content": "hi", "reasoning_content": "r"}
    assert result.usage is None and client.usage.calls_without_usage == 1


def test_malformed_tool_call_json_and_unknown_tool_pass_through_intact(server: ScriptedOpenAIServer) -> None:
    broken = '{"query": "kettle", "page": '
    server.push(Reply.tools(("product_search", broken), ("teleport", {"to": "mars"})))
    result, _ = chat(server)
    assert result.attempts == 1
    assert result.tool_calls[0]["function"]["arguments"] == broken
    assert result.tool_calls[1]["function"] == {"name": "teleport", "arguments": '{"to": "mars"}'}


@pytest.mark.parametrize("backend", BACKENDS)
def test_429_with_retry_after_is_honoured(server: ScriptedOpenAIServer, backend: str) -> None:
    server.push(Reply.error(429, retry_after=0.25), Reply.error(429, retry_after=2), Reply.text("finally"))
    sleep = RecordingSleep()
    result, client = chat(server, sleep, http_backend=backend, max_retries=3)
    assert result.content == "finally"
    assert result.attempts == 3
    assert sleep.waits == [0.25, 2.0]
    assert len(server.chat_requests()) == 3
    assert client.usage.attempts == 3 and client.usage.calls == 1


def test_retry_after_is_capped(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.error(429, retry_after=3600), Reply.text("ok"))
    sleep = RecordingSleep()
    result, _ = chat(server, sleep, retry_after_cap_s=1.5)
    assert result.content == "ok" and sleep.waits == [1.5]


def test_500_then_success_uses_seeded_backoff(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.error(500), Reply.error(503), Reply.text("recovered"))
    sleep = RecordingSleep()
    result, _ = chat(server, sleep, max_retries=3, backoff_base_s=0.5, backoff_cap_s=8, jitter_seed=42)
    rng = random.Random(42)
    expected = [backoff_delay(1, 0.5, 8, rng), backoff_delay(2, 0.5, 8, rng)]
    assert result.content == "recovered" and result.attempts == 3
    assert sleep.waits == expected
    assert 0.25 <= sleep.waits[0] <= 0.5 and 0.5 <= sleep.waits[1] <= 1.0


def test_persistent_500_raises_llm_error_with_reason(server: ScriptedOpenAIServer) -> None:
    server.push(*[Reply.error(500, message="overloaded")] * 3)
    error, client = chat(server, RecordingSleep(), max_retries=2)
    assert isinstance(error, LLMError)
    assert (error.reason, error.status, error.attempts) == ("server_error", 500, 3)
    assert "overloaded" in str(error) and "test-model" in str(error)
    assert client.usage.failed_calls == 1 and client.usage.calls == 0


def test_non_retryable_4xx_fails_at_once(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.error(400, message="unknown model"), Reply.text("never sent"))
    error, _ = chat(server, RecordingSleep())
    assert isinstance(error, LLMError)
    assert (error.reason, error.status, error.attempts) == ("http_error", 400, 1)
    assert len(server.chat_requests()) == 1 and server.pending == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_slow_reply_past_timeout_is_retried_then_fails_with_timeout(
    server: ScriptedOpenAIServer, backend: str
) -> None:
    server.push(*[Reply(content="too late", delay_s=1.0)] * 2)
    error, _ = chat(server, RecordingSleep(), http_backend=backend, timeout_s=0.2, max_retries=1)
    assert isinstance(error, LLMError)
    assert (error.reason, error.status, error.attempts) == ("timeout", None, 2)
    assert len(server.chat_requests()) == 2


def test_slow_reply_then_fast_reply_recovers(server: ScriptedOpenAIServer) -> None:
    server.push(Reply(content="too late", delay_s=1.0), Reply.text("in time"))
    result, _ = chat(server, RecordingSleep(), timeout_s=0.2)
    assert result.content == "in time" and result.attempts == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_body_is_retried(server: ScriptedOpenAIServer, backend: str) -> None:
    server.push(Reply(content="x" * 2000, truncate=True), Reply.text("whole"))
    result, _ = chat(server, RecordingSleep(), http_backend=backend)
    assert result.content == "whole" and result.attempts == 2


def test_truncated_body_every_time_fails_with_reason(server: ScriptedOpenAIServer) -> None:
    server.push(*[Reply(content="x" * 2000, truncate=True)] * 3)
    error, _ = chat(server, RecordingSleep())
    assert isinstance(error, LLMError) and error.reason == "connection" and error.attempts == 3


def test_invalid_json_body_is_retried_as_bad_response(server: ScriptedOpenAIServer) -> None:
    server.push(Reply(raw_body='{"choices": [{"mess'), Reply(raw_body='{"choices": []}'), Reply.text("ok"))
    result, _ = chat(server, RecordingSleep(), max_retries=2)
    assert result.content == "ok" and result.attempts == 3
    server.push(*[Reply(raw_body="[1, 2]")] * 3)
    error, _ = chat(server, RecordingSleep(), max_retries=2)
    assert isinstance(error, LLMError) and error.reason == "bad_response"


def test_finish_reason_length_returns_the_cut_reply(server: ScriptedOpenAIServer) -> None:
    cut_args = '{"query": "blue ke'
    server.push(Reply(tool_calls=[{"name": "product_search", "arguments": cut_args}], finish_reason="length"))
    result, _ = chat(server)
    assert result.truncated and result.finish_reason == "length" and result.attempts == 1
    assert result.tool_calls[0]["function"]["arguments"] == cut_args


@pytest.mark.parametrize("backend", BACKENDS)
def test_connection_refused_is_retried_then_reported(server: ScriptedOpenAIServer, backend: str) -> None:
    """A refused connection is ``connection_refused`` on both transports (aiohttp's SDK wrapper calls it a
    timeout), so "the server is down" is never recorded as "the server is slow"."""
    port = server.port
    server.stop()
    config = LLMConfig(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=1.0, max_retries=1, http_backend=backend
    )

    async def go() -> LLMError:
        async with LLMClient(config, sleep=RecordingSleep()) as client:
            with pytest.raises(LLMError) as info:
                await client.chat(MESSAGES)
            return info.value

    error = asyncio.run(go())
    assert error.reason == "connection_refused" and error.attempts == 2


def test_endpoint_limit_bounds_requests_in_flight(server: ScriptedOpenAIServer) -> None:
    server.latency_s = 0.05
    server.responder = lambda request: Reply.text("ok")
    limits = EndpointLimits()

    async def go() -> int:
        # Two clients (two roles) of one endpoint share its limit.
        a = LLMClient(config_for(server, max_concurrency=3), limits=limits)
        b = LLMClient(config_for(server, max_concurrency=3, model="other"), limits=limits)
        await asyncio.gather(*(c.chat(MESSAGES) for c in [a, b] * 6))
        stats = limits.stats(server.base_url + "/")
        await a.aclose()
        await b.aclose()
        assert stats is not None and stats.acquired == 12
        return stats.peak_in_flight

    peak = asyncio.run(go())
    assert peak == 3
    assert server.max_in_flight == 3


def test_sessions_count_tokens_separately_and_roll_up(server: ScriptedOpenAIServer) -> None:
    server.push(*[Reply.text("a b c", prompt_tokens=10, completion_tokens=3)] * 3)

    async def go() -> tuple[UsageMeter, UsageMeter, UsageMeter]:
        async with LLMClient(config_for(server)) as root:
            one, two = root.session(), root.session()
            await one.chat(MESSAGES)
            await two.chat(MESSAGES)
            await two.chat(MESSAGES)
            return root.usage, one.usage, two.usage

    root, one, two = asyncio.run(go())
    assert (one.calls, one.tokens.total_tokens) == (1, 13)
    assert (two.calls, two.tokens.total_tokens) == (2, 26)
    assert (root.calls, root.tokens.total_tokens) == (3, 39)
    assert two.snapshot()["prompt_tokens"] == 20
