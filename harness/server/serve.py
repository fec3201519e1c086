"""Run the env server: uvicorn with JSON logs, a graceful drain on SIGTERM / SIGINT, and optional workers.

Shutdown: the first signal stops new connections (503), closes idle sessions and lets running steps send
their replies, then exits when every connection is gone or ``shutdown_grace_s`` has passed; a second signal
exits at once. With ``workers > 1`` uvicorn's supervisor forwards the signal to each worker, and each drains
its own sessions (sessions live in one worker; the catalog is opened once per worker).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from types import FrameType

import uvicorn
from uvicorn.supervisors import multiprocess

from harness.server import app as server_app
from harness.server.logs import LOGGER, event, setup_logging
from harness.server.settings import SETTINGS_ENV, ServerSettings

log = logging.getLogger(LOGGER)


class DrainingServer(uvicorn.Server):
    """``uvicorn.Server`` whose exit first drains the guards of this process (see module doc)."""

    def __init__(self, config: uvicorn.Config, grace_s: float) -> None:
        super().__init__(config)
        self.grace_s = grace_s
        self._drain_deadline: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)
        if not self.should_exit:
            event(log, "server_ready", host=self.config.host, port=self.config.port)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if (
            self._drain_deadline is not None
            or self.grace_s <= 0
            or self._loop is None
            or not server_app.GUARDS
        ):
            event(log, "server_exit", signal=sig)
            super().handle_exit(sig, frame)
            return
        self._drain_deadline = time.monotonic() + self.grace_s
        for guard in server_app.GUARDS:
            self._loop.call_soon_threadsafe(guard.begin_drain)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None and not self.should_exit:
            drained = all(g.drained for g in server_app.GUARDS)
            if drained or time.monotonic() >= self._drain_deadline:
                event(log, "drain_done", drained=drained)
                self.should_exit = True
        return await super().on_tick(counter)


def serve(settings: ServerSettings) -> None:
    """Run ``prgym serve`` with ``settings`` until a signal stops it."""
    setup_logging(settings.log_level)
    common = dict(
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_max_size=max(4 * settings.max_message_bytes, 1 << 20),
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    event(
        log,
        "server_start",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        catalog=str(settings.catalog),
        auth=settings.token is not None,
        max_sessions=settings.max_sessions,
    )
    if settings.workers == 1:
        guard = server_app.create_server_app(settings)
        config = uvicorn.Config(guard, **common)
        DrainingServer(config, settings.shutdown_grace_s).run()
        return
    os.environ[SETTINGS_ENV] = settings.to_env()
    config = uvicorn.Config(
        "harness.server.app:app_from_env",
        factory=True,
        workers=settings.workers,
        timeout_worker_healthcheck=300,  # a worker imports and opens the catalog before it answers
        **common,
    )
    socket = config.bind_socket()
    # uvicorn's supervisor builds each worker's Server through the module-level ``Process``; this process only
    # supervises, so pointing that name at a Process whose server drains is the whole change.
    multiprocess.Process = _DrainingProcess  # type: ignore[misc]
    multiprocess.Multiprocess(config, sockets=[socket]).run()


class _DrainingProcess(multiprocess.Process):
    """A uvicorn worker process whose server is a :class:`DrainingServer` (grace from the settings)."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(self.config, ServerSettings.from_env().shutdown_grace_s)
        return self._server
