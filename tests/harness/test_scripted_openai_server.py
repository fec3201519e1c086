"""The scripted OpenAI-compatible server itself: format, routing, script exhaustion, concurrency."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import openai

from harness.testing.openai_server import RecordedRequest, Reply, ScriptedOpenAIServer, tool_loop_responder


def post(server: ScriptedOpenAIServer, body: object, path: str = "/chat/completions") -> httpx.Response:
    return httpx.post(server.base_url + path, json=body, timeout=10)


def test_reply_is_in_openai_format_and_request_is_recorded(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.tools(("a", {"x": 1}), ("b", "{oops"), reasoning_content="why"))
    response = post(server, {"model": "m1", "messages": [{"role": "user", "content": "one two three"}]})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "m1"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["reasoning_content"] == "why"
    assert [c["function"]["arguments"] for c in choice["message"]["tool_calls"]] == ['{"x": 1}', "{oops"]
    assert body["usage"]["prompt_tokens"] == 3
    assert (
        body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    (request,) = server.requests
    assert request.body["model"] == "m1" and request.status == 200 and request.path == "/v1/chat/completions"


def test_the_openai_sdk_parses_its_replies(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.tool("search", {"q": "kettle"}, reasoning_content="think"), Reply.text("bye"))

    async def go() -> list:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        try:
            return [
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
                for _ in range(2)
            ]
        finally:
            await client.close()

    first, second = asyncio.run(go())
    assert first.choices[0].message.tool_calls[0].function.name == "search"
    assert first.choices[0].message.model_extra == {"reasoning_content": "think"}
    assert second.choices[0].message.content == "bye" and second.usage.total_tokens > 0


def test_errors_routes_and_exhausted_script(server: ScriptedOpenAIServer) -> None:
    server.push(Reply.error(429, retry_after=1.5, message="slow down"))
    limited = post(server, {"messages": []})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1.500"
    assert limited.json()["error"]["message"] == "slow down"
    exhausted = post(server, {"messages": []})
    assert exhausted.status_code == 500 and "script is exhausted" in exhausted.json()["error"]["message"]
    assert post(server, {"messages": []}, path="/embeddings").status_code == 404
    assert post(server, {"model": "no messages"}).status_code == 400
    assert httpx.get(server.base_url + "/models").json()["data"][0]["id"] == "scripted"

    def broken(request: RecordedRequest) -> Reply:
        raise KeyError("oops")

    server.responder = broken
    assert "responder raised KeyError" in post(server, {"messages": []}).json()["error"]["message"]


def test_handles_64_concurrent_connections(server: ScriptedOpenAIServer) -> None:
    release = threading.Event()
    seen: list[int] = []

    def hold(request: RecordedRequest) -> Reply:
        seen.append(request.number)
        if len(seen) >= 64:
            release.set()
        release.wait(timeout=30)  # every request waits until all 64 are inside the server at once
        return Reply.text(f"r{request.number}")

    server.responder = hold

    async def go() -> list[str]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as client:
            replies = await asyncio.gather(
                *(
                    client.post(
                        server.base_url + "/chat/completions",
                        json={"messages": [{"role": "user", "content": str(i)}]},
                    )
                    for i in range(64)
                )
            )
        return [r.json()["choices"][0]["message"]["content"] for r in replies]

    contents = asyncio.run(go())
    assert release.is_set() and server.max_in_flight == 64
    assert sorted(contents) == sorted(f"r{n}" for n in range(1, 65))


def test_tool_loop_responder_reads_the_turn_from_the_request() -> None:
    respond = tool_loop_responder(turns=2)

    def request(assistant_turns: int) -> RecordedRequest:
        messages = [{"role": "user", "content": "go"}] + [
            {"role": "assistant", "content": None}
        ] * assistant_turns
        return RecordedRequest(
            number=1, method="POST", path="/", headers={}, body={"messages": messages}, received_at=0
        )

    assert respond(request(0)).tool_calls[0].arguments == {"text": "step 1"}
    assert respond(request(1)).tool_calls[0].arguments == {"text": "step 2"}
    assert respond(request(2)).content == "final answer after 2 tool turns"
    assert json.loads(respond(request(0)).tool_calls[0].arguments_text()) == {"text": "step 1"}
