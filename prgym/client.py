"""``RemoteEnv``: a Gymnasium env whose episodes run on a ``prgym serve`` server, over OpenEnv's WebSocket client.

Same contract as the local env: ``reset(seed, options)`` -> ``(text, info)`` with ``info["messages"]``,
``info["tools"]``, ``task``, ``catalog_snapshot``...; ``step(action)`` takes an assistant message (or text, or a
JSON tool call) and returns the Gymnasium 5-tuple with the whole chat in ``info["messages"]`` (rebuilt here from
the per-step deltas the server sends). ``call_tool(name, arguments)`` and ``finish()`` are the per-call API.
``areset`` / ``astep`` / ``acall_tool`` / ``afinish`` / ``aclose`` are the same for asyncio callers (one
instance is driven either synchronously or from one event loop, not both).

One instance holds one server session (one WebSocket connection), so episodes on it never share state with
another client's. If the connection drops mid-episode (the server died, restarted or closed an idle session),
the next call raises :class:`SessionLostError` naming the server, the episode and the step: the episode is lost
(it is never silently continued on a fresh session); the next ``reset`` opens a new session. An error reply from
the server (unknown task id, bad reset option, wrong token) raises :class:`ServerRejectedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import gymnasium as gym
from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from prgym.errors import RemoteEnvError, ServerRejectedError, SessionLostError
from sandbox.env.spaces import AgentActionSpace, TextSpace

__all__ = ["RemoteEnv", "RemoteEnvError", "ServerRejectedError", "SessionLostError"]

T = TypeVar("T")
TOKEN_ENV = "PRGYM_SERVER_TOKEN"
RETRYABLE_CODES = frozenset({"CAPACITY_REACHED", "FACTORY_ERROR"})


class _PinnedClient(EnvClient[dict, dict, dict]):
    """OpenEnv's client with one change: while an episode runs it never reconnects (a reconnect would open a
    new, empty session and the episode would silently continue somewhere it does not exist)."""

    pinned = False

    def _step_payload(self, action: dict) -> dict:
        return action

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[dict]:
        return StepResult(
            observation=payload.get("observation", {}),
            reward=payload.get("reward"),
            done=bool(payload.get("done", False)),
            metadata=payload.get("metadata"),
        )

    def _parse_state(self, payload: dict[str, Any]) -> dict:
        return payload

    async def _ensure_connected(self) -> None:
        if self.pinned and (self._ws is None or self._ws.state is not State.OPEN):
            raise ConnectionResetError(
                "the connection of the running episode is gone (no reconnect mid-episode)"
            )
        await super()._ensure_connected()


class RemoteEnv(gym.Env[str, Any]):
    """A prgym env served by ``prgym serve`` at ``url`` (``http://``, ``https://``, ``ws://`` or ``wss://``).

    Args:
        url: The server's base URL.
        token: Bearer token (default ``$PRGYM_SERVER_TOKEN``; None sends none).
        step_timeout_s: How long to wait for one reply (the server has its own per-step timeout).
        connect_timeout_s: How long to wait for the WebSocket handshake.
        plan_mode: Ask the server for this plan mode (``turn``, ``tool``, ``none``) on every reset.
        info_messages: Put the whole chat in every step's ``info["messages"]`` (as the local env does).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        step_timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        max_message_mb: float = 64.0,
        plan_mode: str | None = None,
        info_messages: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._client = _PinnedClient(
            base_url=self.url,
            connect_timeout_s=connect_timeout_s,
            message_timeout_s=step_timeout_s,
            max_message_size_mb=max_message_mb,
            headers=headers,
        )
        self.plan_mode = plan_mode
        self.info_messages = info_messages
        self.observation_space = TextSpace()
        self.action_space = AgentActionSpace(())
        self.session_id: str | None = None
        self.episode_id: str | None = None
        self._messages: list[dict[str, Any]] = []
        self._steps = 0
        self._in_episode = False
        self._fresh_session_needed = False
        self._mode: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- sync API -----------------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        return self._sync(lambda: self.areset(seed=seed, options=options, _mode="sync"))

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        return self._sync(lambda: self.astep(action, _mode="sync"))

    def call_tool(self, name: str, arguments: dict[str, Any] | str | None = None) -> Any:
        """One tool call as one step (the server's ``ProductResearchEnv.call_tool``); returns a ``ToolStepResult``."""
        return self._sync(lambda: self.acall_tool(name, arguments, _mode="sync"))

    def finish(self, truncated: bool = True) -> Any:
        """Score the episode now (idempotent on the server); returns an ``EpisodeScore``."""
        return self._sync(lambda: self.afinish(truncated, _mode="sync"))

    def close(self) -> None:
        if self._closed:
            return
        if self._mode == "sync" and self._loop is not None:
            try:
                self._sync(lambda: self.aclose(_mode="sync"))
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                if self._thread is not None:
                    self._thread.join(timeout=5)
        self._closed = True
        super().close()

    # -- async API ----------------------------------------------------------------------------------------------

    async def areset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None, _mode: str = "async"
    ) -> tuple[str, dict[str, Any]]:
        self._claim(_mode)
        if seed is not None:
            super().reset(seed=seed)
        data: dict[str, Any] = {k: v for k, v in dict(options or {}).items() if v is not None}
        if self.plan_mode is not None:
            data.setdefault("plan_mode", self.plan_mode)
        if seed is not None:
            data["seed"] = seed
        self._client.pinned = False
        self._in_episode = False
        if self._fresh_session_needed:
            await self._client.disconnect()
            self._fresh_session_needed = False
        result = await self._call("reset", lambda: self._client.reset(**data))
        observation = result.observation
        info = dict(observation.get("info") or {})
        self.session_id = info.get("session_id")
        self.episode_id = info.get("episode_id")
        self._messages = []
        self._steps = 0
        self._absorb(info)
        self._client.pinned = True
        self._in_episode = True
        self.action_space = AgentActionSpace(
            [t["function"]["name"] for t in info.get("tools") or [] if "function" in t]
        )
        return str(observation.get("text", "")), info

    async def astep(self, action: Any, _mode: str = "async") -> tuple[str, float, bool, bool, dict[str, Any]]:
        return await self._astep({"message": action}, _mode)

    async def acall_tool(
        self, name: str, arguments: dict[str, Any] | str | None = None, _mode: str = "async"
    ) -> Any:
        from sandbox.env import ToolStepResult

        text, reward, terminated, truncated, info = await self._astep(
            {"tool": name, "arguments": arguments if arguments is not None else {}}, _mode
        )
        return ToolStepResult(
            observation=text, reward=reward, terminated=terminated, truncated=truncated, info=info
        )

    async def afinish(self, truncated: bool = True, _mode: str = "async") -> Any:
        from sandbox.env import EpisodeScore

        _, reward, _, _, info = await self._astep({"finish": True}, _mode)
        return EpisodeScore(
            reward=reward,
            components=dict(info.get("reward_components") or {}),
            metrics=dict(info.get("metrics") or {}),
        )

    async def aclose(self, _mode: str = "async") -> None:
        self._claim(_mode)
        self._in_episode = False
        self._client.pinned = False
        with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):  # the server may have dropped it
            await self._client.close()
        self._closed = True

    # -- internals ----------------------------------------------------------------------------------------------

    async def _astep(
        self, payload: dict[str, Any], mode: str
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self._claim(mode)
        if not self._in_episode:
            raise RemoteEnvError(
                "call reset() before step(): no episode is running on this RemoteEnv (or its connection was lost)"
            )
        self._steps += 1
        result = await self._call(f"step {self._steps}", lambda: self._client.step(payload))
        observation = result.observation
        info = dict(observation.get("info") or {})
        self._absorb(info)
        terminated = bool(observation.get("terminated"))
        truncated = bool(observation.get("truncated"))
        if "server_error" in info:
            self._fresh_session_needed = True  # the server closed this session for new episodes
        return str(observation.get("text", "")), float(result.reward or 0.0), terminated, truncated, info

    def _absorb(self, info: dict[str, Any]) -> None:
        """Rebuild ``info["messages"]`` from the server's delta."""
        delta = info.pop("messages_delta", None)
        start = info.pop("messages_start", None)
        if delta is None:
            return
        if start != len(self._messages):
            raise RemoteEnvError(
                f"{self.url}: the server's chat (message {start}) and this client's ({len(self._messages)} "
                "messages) are out of step; reset to start a new episode"
            )
        self._messages.extend(delta)
        if self.info_messages:
            info["messages"] = list(self._messages)

    async def _call(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        where = f"{self.url} (session {self.session_id}, episode {self.episode_id}, {what})"
        try:
            return await request()
        except (ConnectionClosed, OSError, asyncio.TimeoutError) as exc:
            self._in_episode = False
            self._client.pinned = False
            cause = exc.__cause__
            if isinstance(cause, InvalidStatus) and cause.response.status_code in (401, 403):
                raise ServerRejectedError(
                    f"{self.url} refused the connection (HTTP {cause.response.status_code}): "
                    f"{cause.response.body.decode(errors='replace').strip() or 'check the token'}"
                ) from exc
            detail = _describe(exc)
            raise SessionLostError(
                f"lost the connection to the prgym server at {where}: {detail}; the episode in progress is lost "
                "(reset to run it again)"
            ) from exc
        except RuntimeError as exc:
            message = str(exc)
            if any(f"(code: {code})" in message for code in RETRYABLE_CODES):
                self._in_episode = False
                self._client.pinned = False
                raise SessionLostError(f"{where}: {message}") from exc
            raise ServerRejectedError(f"{where}: {message}") from exc

    def _claim(self, mode: str) -> None:
        if self._closed:
            raise RemoteEnvError("this RemoteEnv is closed")
        if self._mode is None:
            self._mode = mode
        elif self._mode != mode:
            raise RemoteEnvError(
                f"this RemoteEnv is driven with {self._mode} calls; use one instance per way of calling it"
            )

    def _sync(self, make: Callable[[], Awaitable[T]]) -> T:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="prgym-remote-env", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result()  # type: ignore[arg-type]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        if frame is not None:
            return f"the server closed the connection (code {frame.code}{': ' + frame.reason if frame.reason else ''})"
        return "the connection closed without a close frame (the server died or the network dropped)"
    if isinstance(exc, asyncio.TimeoutError):
        return "no reply within the step timeout"
    return f"{type(exc).__name__}: {exc}"
