"""The ``prgym serve`` ASGI app: OpenEnv's ``HTTPEnvServer`` over :class:`PrgymEnvironment`, plus ``/healthz``,
behind the :class:`~harness.server.guard.Guard`.

OpenEnv provides the protocol (``/ws`` sessions, ``/reset``, ``/step``, ``/state``, ``/schema``, ``/metadata``,
``/health``); its MCP routes are removed (the env is not an MCP server, and HTTP MCP sessions could be
addressed by id from any connection). The catalog (and task file, and web tools) is opened once per process, before the
first request, so a bad ``--catalog`` fails at startup rather than on the first reset.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from openenv.core.env_server.http_server import HTTPEnvServer
from openenv.core.env_server.types import ConcurrencyConfig

from harness.server.environment import PrgymEnvironment, ServerStats
from harness.server.guard import Guard
from harness.server.models import PrgymAction, PrgymObservation, PrgymState
from harness.server.settings import ServerSettings
from sandbox.env import ENV_VERSION, shared_backend
from sandbox.env.shared import shared_tasks, shared_web_tools

#: The guards of the apps built in this process (the draining server asks them whether they are drained).
GUARDS: list[Guard] = []


def create_server_app(settings: ServerSettings) -> Guard:
    """Build the guarded app for ``settings`` (opens the catalog now)."""
    backend = shared_backend(settings.catalog, settings.backend_kind)
    if settings.tasks is not None:
        shared_tasks(settings.tasks)
    if settings.web is not None:
        shared_web_tools(settings.web)  # a provider missing its key or url fails at startup, not mid-episode
    snapshot_id = getattr(backend, "snapshot_id", "unknown")
    stats = ServerStats()
    executor = ThreadPoolExecutor(max_workers=settings.step_threads, thread_name_prefix="prgym-step")
    holder: dict[str, HTTPEnvServer] = {}

    def session_id_of(env: PrgymEnvironment) -> str | None:
        sessions: dict[str, Any] = getattr(holder.get("server"), "_sessions", {})
        return next((sid for sid, other in list(sessions.items()) if other is env), None)

    def factory() -> PrgymEnvironment:
        return PrgymEnvironment(settings, executor, stats, session_id_of)

    app = FastAPI(title="prgym env server", version=ENV_VERSION, docs_url=None, redoc_url=None)
    server = HTTPEnvServer(
        factory,
        PrgymAction,
        PrgymObservation,
        concurrency_config=ConcurrencyConfig(max_concurrent_envs=settings.max_sessions),
        env_name="prgym",
        state_cls=PrgymState,
    )
    holder["server"] = server
    server.register_routes(app, mode="simulation")
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != "/mcp"]
    guard = Guard(
        app,
        token=settings.token,
        max_request_bytes=settings.max_request_bytes,
        max_message_bytes=settings.max_message_bytes,
        idle_ttl_s=settings.idle_ttl_s,
    )

    @app.get("/healthz", tags=["Health"])
    async def healthz() -> dict[str, Any]:
        return {
            "status": "draining" if guard.draining else "ok",
            "sessions": server.active_sessions,
            "max_sessions": server.max_concurrent_envs,
            "connections": guard.connections,
            "in_flight": stats.in_flight,
            "steps": stats.steps,
            "episodes": stats.episodes,
            "step_timeouts": stats.timeouts,
            "catalog_snapshot": snapshot_id,
            "env_version": ENV_VERSION,
            "pid": os.getpid(),
        }

    @app.on_event("shutdown")
    async def _stop_pool() -> None:
        executor.shutdown(wait=False, cancel_futures=True)

    GUARDS.append(guard)
    return guard


def app_from_env() -> Guard:
    """uvicorn factory for worker processes: the settings come from ``PRGYM_SERVER_SETTINGS``."""
    from harness.server.logs import setup_logging

    settings = ServerSettings.from_env()
    setup_logging(settings.log_level)
    return create_server_app(settings)
