"""``prgym``: the user-facing import path for clients of a prgym env server.

- :class:`prgym.client.RemoteEnv`: a Gymnasium env over ``prgym serve`` (same reset / step / info contract as
  ``sandbox.env.ProductResearchEnv``, plus ``call_tool`` / ``finish``);
- :mod:`prgym.harness`: OpenEnv's ``ResourceSessionFactory`` harness API over a server or a local env.

The sandbox, harness and catalog loader keep their own packages (``sandbox``, ``harness``, ``catalog_loader``).
"""

from typing import Any

from prgym.errors import RemoteEnvError, ServerRejectedError, SessionLostError

__all__ = ["RemoteEnv", "RemoteEnvError", "ServerRejectedError", "SessionLostError"]


def __getattr__(name: str) -> Any:
    if name == "RemoteEnv":  # imported on use: it needs the serve extra (openenv)
        from prgym.client import RemoteEnv

        return RemoteEnv
    raise AttributeError(f"module 'prgym' has no attribute {name!r}")
