"""``prgym serve``: an OpenEnv-compatible env server over one shared catalog per process.

- :mod:`harness.server.models`: the wire models (both action forms, observation, state);
- :mod:`harness.server.environment`: one session's env behind OpenEnv's ``Environment`` (per-step timeout);
- :mod:`harness.server.guard`: auth, session isolation, size bounds, idle TTL, draining;
- :mod:`harness.server.app`: the app (OpenEnv's ``HTTPEnvServer`` plus ``/healthz``);
- :mod:`harness.server.serve`: uvicorn with JSON logs, graceful shutdown and workers.

Clients: :class:`prgym.client.RemoteEnv` (a Gymnasium env over the server), :mod:`prgym.harness` (OpenEnv's
``ResourceSessionFactory`` harness API), or any OpenEnv ``EnvClient``.
"""

from harness.server.models import PrgymAction, PrgymObservation, PrgymState
from harness.server.settings import TOKEN_ENV, ServerSettings

__all__ = ["TOKEN_ENV", "PrgymAction", "PrgymObservation", "PrgymState", "ServerSettings"]
