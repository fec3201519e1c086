"""A real OpenAI-compatible HTTP server that answers ``POST /v1/chat/completions`` from a script.

Tests and benchmarks need an LLM endpoint whose every reply is known in advance, including the bad ones: rate
limits with ``Retry-After``, 5xx, replies slower than the client's timeout, tool calls whose ``arguments`` are
not valid JSON, bodies cut off mid-way. Talking to it over real HTTP with the real ``openai`` client exercises
the same code paths a vLLM / SGLang / Ollama / OpenAI endpoint does, so nothing in the client layer is faked.

The server is a stdlib ``ThreadingHTTPServer`` (one thread per connection, HTTP/1.1 keep-alive) bound to
``127.0.0.1`` on a free port. Replies come from a FIFO queue of :class:`Reply` objects and, when the queue is
empty, from a ``responder`` function ``(RecordedRequest) -> Reply``. Every request is recorded for assertions.

Run standalone (used by the throughput benchmark so the server does not share the client's GIL)::

    python -m harness.testing.openai_server --latency-ms 100 --tool-turns 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MODELS_PATHS = ("/v1/models", "/models")


class ScriptedToolCall(BaseModel):
    """One tool call in a scripted reply. ``arguments`` as a dict is JSON-encoded; a string is sent verbatim, so a
    test can send malformed JSON on purpose."""

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: str | dict[str, Any] = "{}"
    id: str | None = None

    def arguments_text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


class Reply(BaseModel):
    """What the server sends for one request: an assistant message, or a fault.

    Faults: ``status`` other than 200 sends an OpenAI-style error body (with ``Retry-After`` when
    ``retry_after`` is set); ``delay_s`` waits before answering (past the client's timeout to test timeouts);
    ``truncate`` announces the full ``Content-Length`` but sends only half the body and closes the connection;
    ``raw_body`` sends that text verbatim as a 200 JSON reply (e.g. invalid JSON).
    """

    model_config = ConfigDict(frozen=True)

    content: str | None = None
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    reasoning_content: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    status: int = 200
    retry_after: float | None = None
    error_message: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    delay_s: float = Field(default=0.0, ge=0)
    truncate: bool = False
    raw_body: str | None = None

    @classmethod
    def text(cls, content: str, **kwargs: Any) -> Reply:
        """A plain assistant text reply."""
        return cls(content=content, **kwargs)

    @classmethod
    def tool(cls, name: str, arguments: str | dict[str, Any] | None = None, **kwargs: Any) -> Reply:
        """A reply with a single tool call."""
        call = ScriptedToolCall(name=name, arguments={} if arguments is None else arguments)
        return cls(tool_calls=[call], **kwargs)

    @classmethod
    def tools(cls, *calls: tuple[str, str | dict[str, Any]], **kwargs: Any) -> Reply:
        """A reply with parallel tool calls, given as ``(name, arguments)`` pairs."""
        return cls(tool_calls=[ScriptedToolCall(name=n, arguments=a) for n, a in calls], **kwargs)

    @classmethod
    def error(cls, status: int, *, retry_after: float | None = None, message: str | None = None) -> Reply:
        """An HTTP error reply (429, 500, ...)."""
        return cls(status=status, retry_after=retry_after, error_message=message)

    def body(self, model: str, request_no: int, prompt_words: int) -> dict[str, Any]:
        """The JSON body of a successful chat completion in the OpenAI format."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_{request_no}_{i}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_text()},
                }
                for i, call in enumerate(self.tool_calls)
            ]
        if self.reasoning_content is not None:
            message["reasoning_content"] = self.reasoning_content
        produced = " ".join(
            [self.content or "", self.reasoning_content or ""]
            + [c.name + " " + c.arguments_text() for c in self.tool_calls]
        )
        completion = self.completion_tokens if self.completion_tokens is not None else len(produced.split())
        prompt = self.prompt_tokens if self.prompt_tokens is not None else prompt_words
        finish = self.finish_reason or ("tool_calls" if self.tool_calls else "stop")
        return {
            "id": f"chatcmpl-{request_no}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }


class RecordedRequest(BaseModel):
    """One request as the server saw it, for assertions (body parsed from JSON when it was JSON)."""

    number: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    status: int = 0
    received_at: float


Responder = Callable[[RecordedRequest], Reply]


def count_prompt_words(body: Any) -> int:
    """A deterministic stand-in for prompt tokens: whitespace-separated words in the message contents."""
    if not isinstance(body, dict):
        return 0
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content.split())
    return total


def tool_loop_responder(turns: int, tool_name: str = "echo") -> Responder:
    """A stateless responder for multi-step episodes: while the conversation has fewer than ``turns`` assistant
    messages it calls ``tool_name`` with ``{"text": "step k"}``, then answers with a final text.

    Stateless (it reads the step from the request) so any number of concurrent episodes can share one server.
    """

    def respond(request: RecordedRequest) -> Reply:
        messages = request.body.get("messages", []) if isinstance(request.body, dict) else []
        done = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
        if done < turns:
            return Reply.tool(tool_name, {"text": f"step {done + 1}"})
        return Reply.text(f"final answer after {done} tool turns")

    return respond


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the per-request stderr log; requests are recorded instead."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        routes = self.server.owner.get_routes
        if self.path.rstrip("/") in routes:
            self._send_json(200, routes[self.path.rstrip("/")])
        elif self.path.rstrip("/") in MODELS_PATHS:
            self._send_json(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
        else:
            self._send_json(404, _error_body(f"no route for GET {self.path}", "not_found"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        owner = self.server.owner
        request = owner._record(self.command, self.path, dict(self.headers.items()), body)
        owner._enter()
        self._in_flight = True
        try:
            self._answer(owner, request, body)
        finally:
            self._release()

    def _release(self) -> None:
        """Leave the in-flight count once, before the reply goes out: the client can only send its next request
        after reading this reply, so the count never shows requests a client-side limit kept apart."""
        if getattr(self, "_in_flight", False):
            self._in_flight = False
            self.server.owner._leave()

    def _answer(self, owner: ScriptedOpenAIServer, request: RecordedRequest, body: Any) -> None:
        if self.path.rstrip("/") not in CHAT_PATHS:
            self._finish(request, 404, _error_body(f"no route for POST {self.path}", "not_found"))
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._finish(
                request, 400, _error_body("request body must be JSON with a 'messages' list", "bad_request")
            )
            return
        try:
            reply = owner._next_reply(request)
        except Exception as exc:  # a broken test responder must surface as a 500, not a hung client
            self._finish(
                request, 500, _error_body(f"responder raised {type(exc).__name__}: {exc}", "script_error")
            )
            return
        delay = owner.latency_s + reply.delay_s
        if delay > 0:
            time.sleep(delay)
        extra = dict(reply.headers)
        if reply.status != 200:
            if reply.retry_after is not None:
                extra["Retry-After"] = _format_seconds(reply.retry_after)
            message = reply.error_message or f"scripted error {reply.status}"
            self._finish(request, reply.status, _error_body(message, "scripted_error"), extra)
            return
        if reply.raw_body is not None:
            self._finish(request, 200, reply.raw_body.encode(), extra, truncate=reply.truncate)
            return
        model = str(body.get("model") or "scripted")
        payload = reply.body(model, request.number, count_prompt_words(body))
        self._finish(request, 200, payload, extra, truncate=reply.truncate)

    def _finish(
        self,
        request: RecordedRequest,
        status: int,
        payload: dict[str, Any] | bytes,
        headers: dict[str, str] | None = None,
        *,
        truncate: bool = False,
    ) -> None:
        self.server.owner._set_status(request, status)
        self._release()
        self._send_json(status, payload, headers, truncate=truncate)

    def _send_json(
        self,
        status: int,
        payload: dict[str, Any] | bytes,
        headers: dict[str, str] | None = None,
        *,
        truncate: bool = False,
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: ScriptedOpenAIServer) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout) and closed its connection is expected; anything else is printed."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Drop idle keep-alive connections so their handler threads end with the server."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class ScriptedOpenAIServer:
    """The scripted endpoint; use as a context manager (``with ScriptedOpenAIServer(...) as server``).

    ``replies`` are served first, in order; then ``responder`` answers; with neither, a request gets a 500 saying
    the script is exhausted (so a test that under-scripts fails loudly). ``latency_s`` is added to every reply.
    ``get_routes`` maps GET paths to the JSON they answer (``{"/v1/models": ..., "/props": ...}``), to play a
    given server kind; other GET paths answer 404, except the default ``/models`` listing.
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        responder: Responder | None = None,
        latency_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        get_routes: dict[str, Any] | None = None,
    ) -> None:
        self._queue: deque[Reply] = deque(replies)
        self.get_routes = {path.rstrip("/"): value for path, value in (get_routes or {}).items()}
        self.responder = responder
        self.latency_s = latency_s
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> ScriptedOpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._httpd = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-openai",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- addresses -------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give an OpenAI client (ends in ``/v1``)."""
        return f"http://{self._host}:{self.port}/v1"

    # ---- script ----------------------------------------------------------------------------------------------
    def push(self, *replies: Reply) -> None:
        """Queue more replies (served before the responder)."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Queued replies not yet served."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        """Only the chat-completion requests."""
        return [r for r in self.requests if r.path.rstrip("/") in CHAT_PATHS]

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> RecordedRequest:
        with self._lock:
            request = RecordedRequest(
                number=len(self._requests) + 1,
                method=method,
                path=path,
                headers={k.lower(): v for k, v in headers.items()},
                body=body,
                received_at=time.monotonic(),
            )
            self._requests.append(request)
            return request

    @property
    def max_in_flight(self) -> int:
        """The most POST requests the server was handling at one moment (to check client-side limits)."""
        with self._lock:
            return self._max_in_flight

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _set_status(self, request: RecordedRequest, status: int) -> None:
        with self._lock:
            request.status = status

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(request)
        return Reply.error(
            500, message="scripted server: the script is exhausted (no reply queued, no responder)"
        )


def main(argv: list[str] | None = None) -> None:
    """Serve a tool-loop script until SIGTERM/SIGINT (or stdin EOF if asked); print ``{"base_url": ...}`` first."""
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible server (tool-loop responder).")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="Latency added to every reply.")
    parser.add_argument("--tool-turns", type=int, default=3, help="Tool-call turns before the final answer.")
    parser.add_argument("--tool-name", default="echo")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true", help="Stop when stdin closes (for a parent process)."
    )
    args = parser.parse_args(argv)
    server = ScriptedOpenAIServer(
        responder=tool_loop_responder(args.tool_turns, args.tool_name),
        latency_s=args.latency_ms / 1000,
        port=args.port,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        print(json.dumps({"base_url": server.base_url}), flush=True)
        if args.exit_on_stdin_eof:
            threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()


if __name__ == "__main__":
    main()
