"""``prgym llm check`` against the scripted server playing different kinds of OpenAI-compatible servers: one that
calls tools natively (vLLM-like), one that needs ``tool_choice`` and refuses ``content: null`` (llama-cpp-python),
one that writes calls as text (Ollama-like, reasoning in ``reasoning``), one that never calls a tool (exit 1), and
endpoints that cannot be used at all (refused, timeout, HTTP error: one line naming the URL, exit 2)."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from harness.cli import llm as llm_cmd
from harness.testing.openai_server import RecordedRequest, Reply, ScriptedOpenAIServer

PARIS = {"city": "Paris"}


def _asks_twice(body: dict[str, Any]) -> bool:
    return "twice" in json.dumps(body.get("messages"))


def _null_beside_calls(body: dict[str, Any]) -> bool:
    return any(m.get("tool_calls") and m.get("content") is None for m in body["messages"])


def vllm_like(request: RecordedRequest) -> Reply:
    """Native calls with or without tool_choice, parallel calls, reasoning_content, accepts content: null."""
    body = request.body
    if any(m.get("role") == "tool" for m in body["messages"]):
        return Reply.text("It is 18 C and raining in Paris.", reasoning_content="The tool said 18 C.")
    if body.get("tools"):
        if _asks_twice(body):
            return Reply.tools(("get_weather", PARIS), ("get_weather", {"city": "Tokyo"}))
        return Reply.tool("get_weather", PARIS, reasoning_content="I should call the tool.")
    return Reply.text("ready", reasoning_content="Easy.")


def llama_cpp_python_like(request: RecordedRequest) -> Reply:
    """llama-cpp-python with chatml-function-calling: tools only with tool_choice, one call per reply, HTTP 500
    on content: null beside tool calls."""
    body = request.body
    if _null_beside_calls(body):
        return Reply.error(
            500, message="1 validation error: messages.2.content Input should be a valid string"
        )
    if body.get("tools") and body.get("tool_choice"):
        return Reply.tool("get_weather", PARIS)
    return Reply.text("ready" if not body.get("tools") else "I cannot check the weather.")


def text_caller(request: RecordedRequest) -> Reply:
    """No tool parser: calls written as Hermes <tool_call> text, reasoning in a ``reasoning`` field."""
    body = request.body
    if body.get("tools"):
        city_calls = [PARIS, {"city": "Tokyo"}] if _asks_twice(body) else [PARIS]
        text = "\n".join(
            f'<tool_call>{{"name": "get_weather", "arguments": {json.dumps(c)}}}</tool_call>'
            for c in city_calls
        )
    else:
        text = "ready"
    message = {"role": "assistant", "content": text, "reasoning": "thinking aloud"}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return Reply(
        raw_body=json.dumps({"id": "x", "object": "chat.completion", "model": "m", "choices": [choice]})
    )


def never_calls(request: RecordedRequest) -> Reply:
    return Reply.text("The weather in Paris is usually mild.")


def check(server: ScriptedOpenAIServer, *extra: str, json_out: bool = True) -> tuple[int, str]:
    app = typer.Typer()
    llm_cmd.register(app)
    args = ["llm", "check", "--llm-set", f"base_url={server.base_url}", "--llm-set", "timeout_s=5", *extra]
    result = CliRunner().invoke(app, args + (["--json"] if json_out else []), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_a_native_tool_server_is_reported_in_full() -> None:
    routes = {"/v1/models": {"data": [{"id": "qwen3", "owned_by": "vllm", "max_model_len": 32768}]}}
    with ScriptedOpenAIServer(responder=vllm_like, get_routes=routes) as server:
        code, out = check(server)  # no model given: the first one /models lists
        bodies = [r.body for r in server.chat_requests()]
    assert code == 0, out
    report = json.loads(out)
    assert report["model"] == "qwen3" and {b["model"] for b in bodies} == {"qwen3"}
    assert report["tool_calls"] == "native" and report["text_forms"] == []
    assert report["tool_auto"]["names"] == ["get_weather"] and report["tool_choice"] == "optional"
    assert report["parallel_calls"] is True and report["parallel"]["calls"] == 2
    assert report["null_content"] == "accepted"
    assert report["reasoning_field"] == "reasoning_content"
    assert (report["context_tokens"], report["context_source"]) == (32768, "/models max_model_len")
    assert report["suggested_compat"] == "vllm" and "--llm-set max_context_tokens=32768" in report["flags"]
    # what was sent: a plain call, tools with and without tool_choice, the parallel request, the null follow-up
    assert [("tools" in b, b.get("tool_choice")) for b in bodies] == [
        (False, None), (True, "auto"), (True, None), (True, "auto"), (True, "auto")
    ]  # fmt: skip
    assert bodies[-1]["messages"][2]["content"] is None


def test_llama_cpp_python_needs_tool_choice_and_refuses_null_content() -> None:
    routes = {"/v1/models": {"data": [{"id": "gemma3-270m", "owned_by": "me"}]}}
    with ScriptedOpenAIServer(responder=llama_cpp_python_like, get_routes=routes) as server:
        code, out = check(server, "--llm-set", "model=gemma3-270m")
    assert code == 0, out
    report = json.loads(out)
    assert report["tool_auto"]["answer"] == "native" and report["tool_without_choice"]["answer"] == "none"
    assert report["tool_choice"] == "needed" and report["parallel_calls"] is False
    assert (
        report["null_content"] == "refused"
        and "Input should be a valid string" in report["null_content_detail"]
    )
    assert report["context_tokens"] is None and report["reasoning_field"] is None
    assert report["suggested_compat"] == "llamacpp" and "refuses content: null" in report["suggestion_reason"]


def test_llama_cpp_server_reports_its_context_in_props() -> None:
    routes = {
        "/v1/models": {"data": [{"id": "g", "owned_by": "llamacpp", "meta": {"n_ctx_train": 32768}}]},
        "/props": {"default_generation_settings": {"n_ctx": 4096}},
    }
    with ScriptedOpenAIServer(responder=vllm_like, get_routes=routes) as server:
        code, out = check(server)
    report = json.loads(out)
    assert code == 0 and report["suggested_compat"] == "llamacpp"
    assert (report["context_tokens"], report["context_source"]) == (
        4096,
        "/props default_generation_settings.n_ctx",
    )
    del routes["/props"]
    with ScriptedOpenAIServer(responder=vllm_like, get_routes=routes) as server:
        report = json.loads(check(server)[1])
    assert (report["context_tokens"], report["context_source"]) == (32768, "/models meta.n_ctx_train")


def test_calls_written_as_text_are_recognised_with_their_form() -> None:
    with ScriptedOpenAIServer(
        responder=text_caller, get_routes={"/api/version": {"version": "0.12.3"}}
    ) as server:
        code, out = check(server, "--llm-set", "model=m")
        table_code, table = check(server, "--llm-set", "model=m", json_out=False)
    report = json.loads(out)
    assert code == 0 and report["tool_calls"] == "text" and report["text_forms"] == ["hermes"]
    assert report["tool_auto"] == {**report["tool_auto"], "answer": "text", "text_form": "hermes", "calls": 1}
    assert report["parallel_calls"] is True and report["reasoning_field"] == "reasoning"
    assert report["suggested_compat"] == "ollama"
    assert table_code == 0
    for row in ("tool call, tool_choice=auto", "as text (hermes), 1 call: get_weather", "parallel calls",
                "reasoning field", "context size", "not reported", "suggested compat", "--llm-set compat=ollama"):  # fmt: skip
        assert row in table, table


def test_a_server_that_never_calls_a_tool_fails_the_check() -> None:
    with ScriptedOpenAIServer(responder=never_calls) as server:
        code, out = check(server, "--llm-set", "model=m")
        table_code, table = check(server, "--llm-set", "model=m", json_out=False)
    report = json.loads(out)
    assert code == 1 and report["tool_calls"] == "none" and report["usable_for_agents"] is False
    assert (
        report["tool_auto"]["detail"].startswith("The weather in Paris")
        and report["tool_choice"] == "no effect"
    )
    assert report["suggested_compat"] == "openai"
    assert table_code == 1 and "no tool call in any probe" in table


def test_a_tool_request_that_errors_is_reported_in_its_row() -> None:
    def crashes_on_tools(request: RecordedRequest) -> Reply:
        if request.body.get("tools"):
            return Reply.error(500, message="number of rules exceeds sane defaults")
        return Reply.text("ready")

    with ScriptedOpenAIServer(responder=crashes_on_tools) as server:
        code, out = check(server, "--llm-set", "model=m")
        requests = len(server.chat_requests())
    report = json.loads(out)
    assert (
        code == 1
        and report["tool_auto"]["answer"] == "error"
        and "server_error 500" in report["tool_auto"]["detail"]
    )
    assert requests == 5  # no retries while probing


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("with_model", [True, False])
def test_a_refused_connection_is_one_line_naming_the_url(with_model: bool) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    args = ["llm", "check", "--llm-set", f"base_url={url}"] + (["--llm-set", "model=m"] if with_model else [])
    from harness.cli import app as root

    result = CliRunner().invoke(root, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and url in lines[0]
    assert ("connection refused" if with_model else "cannot connect") in lines[0]


def test_timeouts_and_http_errors_are_one_line_naming_the_url() -> None:
    from harness.cli import app as root

    for reply, words in (
        (Reply.text("late", delay_s=2.0), "no reply within 0.5 s"),
        (Reply.error(404, message="model 'nope' not found"), "http_error (HTTP 404): model 'nope' not found"),
    ):
        with ScriptedOpenAIServer([reply]) as server:
            url = server.base_url
            args = ["llm", "check", "--llm-set", f"base_url={url}", "--llm-set", "model=nope"]
            result = CliRunner().invoke(root, [*args, "--llm-set", "timeout_s=0.5"], env={"COLUMNS": "200"})
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert url in lines[0] and words in lines[0], lines[0]
