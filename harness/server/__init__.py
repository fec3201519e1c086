"""``prgym serve``: an OpenEnv-compatible env server over one shared catalog per process.

- :mod:`harness.server.models`: the wire models (both action forms, observation, state);
- :mod:`harness.server.environment`: one session's env behind OpenEnv's ``Environment`` (per-step timeout);
- :mod:`harness.server.guard`: auth, session isolation, size bounds, idle TTL, draining;
- :mod:`harness.server.app`: the app (OpenEnv's ``HTTPEnvServer`` plus ``/healthz``);
- :mod:`harness.server.serve`: uvicorn with JSON logs, graceful shutdown and workers.

Clients: :class:`prgym.client.RemoteEnv` (a Gymnasium env over the server), :mod:`prgym.harness` (OpenEnv's
``ResourceSessionFactory`` harness API), or any OpenEnv ``EnvClient``.
"""

from __future__ import annotations

from typing import Any

from harness.server.settings import TOKEN_ENV, ServerSettings

_MODELS = ("PrgymAction", "PrgymObservation", "PrgymState")


def __getattr__(name: str) -> Any:
    """The wire models load OpenEnv (and with it gradio: seconds); only what uses them pays for that, so
    ``prgym catalog ...`` does not (``harness.cli.serve`` imports the settings for its ``--help``)."""
    if name in _MODELS:
        from harness.server import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TOKEN_ENV", "PrgymAction", "PrgymObservation", "PrgymState", "ServerSettings"]
