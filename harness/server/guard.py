"""``Guard``: the ASGI layer in front of OpenEnv's app that makes it safe to put on a network.

OpenEnv's ``HTTPEnvServer`` speaks the protocol (``/ws`` sessions, ``/reset``, ``/step``, ``/schema``, ...); the
guard adds what a shared server needs and the protocol leaves to deployments:

- **Auth**: every route but ``/healthz`` and ``/health`` needs ``Authorization: Bearer <token>`` (compared in
  constant time). HTTP requests without it get 401; a WebSocket handshake gets an HTTP 401 denial response,
  so nothing runs and no session is created.
- **Isolation**: each WebSocket connection owns exactly one session. Attaching to a session by id
  (``/ws?session_id=...``) and OpenEnv's session-management MCP messages are refused, so no client can read,
  step or close another client's episode, whatever ids it knows.
- **Bounds**: HTTP bodies over ``max_request_bytes`` get 413; a WebSocket frame over ``max_message_bytes``
  gets an error frame naming the limit and the session goes on (uvicorn's transport limit, a few times
  larger, closes the connection for anything bigger, which still leaves every other session alone).
- **Idle TTL**: a session whose client sends nothing for ``idle_ttl_s`` is closed (code 4000, with the reason).
- **Draining**: after :meth:`Guard.begin_drain`, new connections get 503, idle sessions are closed (1001)
  and a session whose step is running gets its reply first, then is closed; ``drained`` tells the server
  when it may exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from harness.server.logs import LOGGER, event

log = logging.getLogger(LOGGER)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz", "/health"})
IDLE_CLOSE_CODE = 4000
DRAIN_CLOSE_CODE = 1001


def ws_error_frame(message: str, code: str) -> str:
    """An OpenEnv ``WSErrorResponse`` frame (the shape OpenEnv clients raise on)."""
    return json.dumps({"type": "error", "data": {"message": message, "code": code}})


class Guard:
    """Wraps ``app`` (see module doc). One per worker process."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_request_bytes: int,
        max_message_bytes: int,
        idle_ttl_s: float,
    ) -> None:
        self.app = app
        self._token = token.encode() if token else None
        self.max_request_bytes = max_request_bytes
        self.max_message_bytes = max_message_bytes
        self.idle_ttl_s = idle_ttl_s
        self.connections = 0
        self.http_in_flight = 0
        self.refused_auth = 0
        self._drain = asyncio.Event()

    # -- draining -----------------------------------------------------------------------------------------------

    @property
    def draining(self) -> bool:
        return self._drain.is_set()

    def begin_drain(self) -> None:
        if not self._drain.is_set():
            event(log, "drain_start", connections=self.connections)
            self._drain.set()

    @property
    def drained(self) -> bool:
        return self.connections == 0 and self.http_in_flight == 0

    # -- ASGI ---------------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        if self._token is None or scope.get("path") in OPEN_PATHS:
            return True
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._token)
        return False

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if self.draining and path not in OPEN_PATHS:
            await _json_response(send, 503, {"error": "the server is shutting down"})
            return
        if not self._authorized(scope):
            self.refused_auth += 1
            event(log, "auth_refused", logging.WARNING, path=path, client=_client(scope))
            await _json_response(
                send, 401, {"error": "missing or wrong bearer token"}, [(b"www-authenticate", b"Bearer")]
            )
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_request_bytes:
                await _json_response(
                    send,
                    413,
                    {"error": f"request body over the server's limit of {self.max_request_bytes} bytes"},
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        self.http_in_flight += 1
        try:
            await self.app(scope, replay, send)
        finally:
            self.http_in_flight -= 1

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = _client(scope)
        if not self._authorized(scope):
            self.refused_auth += 1
            event(log, "auth_refused", logging.WARNING, path=scope.get("path"), client=client)
            await _deny(scope, receive, send, 401, "missing or wrong bearer token")
            return
        if self.draining:
            await _deny(scope, receive, send, 503, "the server is shutting down")
            return
        query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
        if "session_id" in query:
            event(log, "attach_refused", logging.WARNING, client=client)
            await _deny(
                scope,
                receive,
                send,
                403,
                "attaching to a session by id is disabled: each WebSocket connection owns its own session",
            )
            return
        connection = _Connection(self, receive, send)
        self.connections += 1
        try:
            await self.app(scope, connection.receive, connection.send)
        finally:
            self.connections -= 1


class _Connection:
    """One WebSocket connection's view of the ASGI channel: size and type checks, idle TTL, draining."""

    def __init__(self, guard: Guard, receive: Receive, send: Send) -> None:
        self.guard = guard
        self._receive = receive
        self._send = send
        self._closed = False

    async def send(self, message: Message) -> None:
        if self._closed and message["type"] in ("websocket.send", "websocket.close"):
            return  # the guard already closed this connection (idle or draining)
        await self._send(message)

    async def _close(self, code: int, reason: str) -> Message:
        self._closed = True
        with contextlib.suppress(Exception):  # the client may be gone already
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        return {"type": "websocket.disconnect", "code": code, "reason": reason}

    async def receive(self) -> Message:
        guard = self.guard
        while True:
            if self._closed:
                return {"type": "websocket.disconnect", "code": DRAIN_CLOSE_CODE}
            if guard.draining:
                return await self._close(DRAIN_CLOSE_CODE, "the server is shutting down")
            pending = asyncio.ensure_future(self._receive())
            drain = asyncio.ensure_future(guard._drain.wait())
            try:
                done, _ = await asyncio.wait(
                    {pending, drain}, timeout=guard.idle_ttl_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                drain.cancel()
            if pending not in done:
                pending.cancel()
                if guard.draining:
                    return await self._close(DRAIN_CLOSE_CODE, "the server is shutting down")
                event(log, "session_idle_closed", idle_s=guard.idle_ttl_s)
                return await self._close(
                    IDLE_CLOSE_CODE,
                    f"the session was idle for more than {guard.idle_ttl_s:g} s and was closed",
                )
            message = pending.result()
            if message["type"] != "websocket.receive":
                return message
            payload = message.get("text")
            if payload is None:
                payload = message.get("bytes") or b""
            size = len(payload.encode() if isinstance(payload, str) else payload)
            if size > guard.max_message_bytes:
                event(log, "message_too_large", logging.WARNING, bytes=size, limit=guard.max_message_bytes)
                await self._send(
                    {
                        "type": "websocket.send",
                        "text": ws_error_frame(
                            f"message of {size} bytes is over the server's limit of {guard.max_message_bytes} "
                            "bytes; it was dropped and the session goes on",
                            "MESSAGE_TOO_LARGE",
                        ),
                    }
                )
                continue
            if _is_mcp(payload):
                await self._send(
                    {
                        "type": "websocket.send",
                        "text": ws_error_frame(
                            "MCP messages are not served on /ws by prgym serve; send reset, step, state or close",
                            "UNKNOWN_TYPE",
                        ),
                    }
                )
                continue
            return message


def _is_mcp(payload: str | bytes) -> bool:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return False  # OpenEnv answers invalid JSON itself
    return isinstance(data, dict) and data.get("type") == "mcp"


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


async def _json_response(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": data})


async def _deny(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    """Refuse a WebSocket handshake with an HTTP status (or close code 1008 if the server cannot send one)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        data = json.dumps({"error": reason}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": data, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": reason})
