"""Message shapes per ``compat`` profile, over real HTTP against the scripted server, and the error classes real
servers need (a validation 500 that must not be retried, context overflow, a refused connection).

Each test sends what a real episode sends on its second turn: the assistant's tool call (with ``content: None``,
as the OpenAI API and our own parser produce it) and the tool's answer, with the env's tool schemas, whose
``submit_report`` carries ``maxLength: 30000`` (the schema that made llama.cpp build a 30,000-rule grammar).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from harness_helpers import RecordingSleep, config_for

from harness.llm import LLMClient, LLMError
from harness.llm.compat import PROFILES, profile, shape_tools
from harness.llm.limits import EndpointLimits
from harness.testing.openai_server import Reply, ScriptedOpenAIServer
from sandbox.tools.answer_tools import MAX_REPORT_CHARS

CHAT = [
    {"role": "system", "content": "You research products."},
    {"role": "user", "content": "find a kettle"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "submit_report", "arguments": "{}"}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "name": "submit_report", "content": "report is required"},
]
COLOURS = [f"colour-{i}" for i in range(100)]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "submit_report",
            "description": "Submit the report.",
            "parameters": {
                "type": "object",
                "properties": {
                    "report": {"type": "string", "minLength": 1, "maxLength": MAX_REPORT_CHARS},
                    "colour": {"type": "string", "enum": COLOURS},
                    "size": {"type": "string", "enum": ["s", "m", "l"]},
                    "code": {"type": "string", "pattern": "^[A-Z]{3}$", "maxLength": 3},
                },
                "required": ["report"],
            },
        },
    }
]


def send(server: ScriptedOpenAIServer, compat: str, **params: Any) -> dict[str, Any]:
    server.push(Reply.text("ok"))

    async def go() -> None:
        client = LLMClient(config_for(server, compat=compat), limits=EndpointLimits())
        try:
            await client.chat(CHAT, TOOLS, **params)
        finally:
            await client.aclose()

    asyncio.run(go())
    return server.chat_requests()[-1].body


@pytest.mark.parametrize("compat", sorted(PROFILES))
def test_every_profile_sends_shapes_its_server_accepts(server: ScriptedOpenAIServer, compat: str) -> None:
    body = send(server, compat)
    assistant = body["messages"][2]
    if profile(compat).null_content_with_tool_calls:
        assert assistant["content"] is None  # valid OpenAI, accepted by these servers
    else:
        assert assistant["content"] == ""  # llama-cpp-python answers null with HTTP 500
    assert assistant["tool_calls"][0]["function"]["name"] == "submit_report"
    assert body["tool_choice"] == "auto"  # llama-cpp-python ignores tools without it
    properties = body["tools"][0]["function"]["parameters"]["properties"]
    assert "maxLength" not in properties["report"] and properties["report"]["minLength"] == 1
    assert f"at most {MAX_REPORT_CHARS} characters" in properties["report"]["description"]
    assert "enum" not in properties["colour"] and "one of 100 values" in properties["colour"]["description"]
    assert properties["size"]["enum"] == ["s", "m", "l"]  # a short enum costs a grammar nothing
    assert "pattern" not in properties["code"] and properties["code"]["maxLength"] == 3
    assert CHAT[2]["content"] is None  # the caller's messages are not modified


def test_shaping_leaves_the_env_schema_intact() -> None:
    shaped = shape_tools(TOOLS)
    assert TOOLS[0]["function"]["parameters"]["properties"]["report"]["maxLength"] == MAX_REPORT_CHARS
    assert shaped[0]["function"]["parameters"]["required"] == ["report"]


def test_callers_tool_choice_wins_and_none_omits_it(server: ScriptedOpenAIServer) -> None:
    assert send(server, "llamacpp", tool_choice="required")["tool_choice"] == "required"
    assert "tool_choice" not in send(server, "llamacpp", tool_choice=None)


def test_no_tools_no_tool_choice(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.text("ok"))

    async def go() -> None:
        async with LLMClient(config_for(server, compat="llamacpp"), limits=EndpointLimits()) as client:
            await client.chat(CHAT[:2])

    asyncio.run(go())
    body = server.chat_requests()[-1].body
    assert "tools" not in body and "tool_choice" not in body


def fail(server: ScriptedOpenAIServer, *replies: Reply) -> LLMError:
    server.push(*replies)

    async def go() -> LLMError:
        async with LLMClient(
            config_for(server, max_retries=3), sleep=RecordingSleep(), limits=EndpointLimits()
        ) as client:
            with pytest.raises(LLMError) as info:
                await client.chat(CHAT, TOOLS)
            return info.value

    return asyncio.run(go())


def test_validation_error_on_a_500_is_not_retried(server: ScriptedOpenAIServer) -> None:
    """llama-cpp-python's answer to ``content: null``: a 500 that retrying cannot fix."""
    message = "1 validation error: messages.2.content Input should be a valid string"
    error = fail(server, *[Reply.error(500, message=message)] * 4)
    assert (error.reason, error.status, error.attempts) == ("invalid_request", 500, 1)
    assert "Input should be a valid string" in error.detail
    assert len(server.chat_requests()) == 1


def test_context_overflow_is_its_own_reason_and_not_retried(server: ScriptedOpenAIServer) -> None:
    message = "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens"
    error = fail(server, Reply.error(400, message=message), Reply.text("never sent"))
    assert (error.reason, error.attempts) == ("context_length_exceeded", 1)


def test_plain_5xx_is_still_retried(server: ScriptedOpenAIServer) -> None:
    error = fail(server, *[Reply.error(503, message="overloaded")] * 4)
    assert (error.reason, error.attempts) == ("server_error", 4)


def test_local_profiles_scale_the_timeout_with_the_prompt() -> None:
    assert profile("openai").timeout_for(60, 10_000) == 60
    assert profile("llamacpp").timeout_for(60, 0) == 60
    assert profile("llamacpp").timeout_for(60, 1000) == 60 + 1000 / profile("llamacpp").prompt_tokens_per_s
    assert profile("ollama").timeout_for(60, 2000) > profile("ollama").timeout_for(60, 1000)


def test_unknown_compat_is_a_config_error() -> None:
    from harness.llm import ConfigError, load_llm_config

    with pytest.raises(ConfigError, match="compat"):
        load_llm_config("agent", env={}, overrides=["model=m", "compat=tgi"])
    config = load_llm_config(
        "agent", env={}, overrides=["model=m", "compat=llamacpp", "prompt_tokens_per_s=20"]
    )
    assert config.profile().local and config.profile().prompt_tokens_per_s == 20
