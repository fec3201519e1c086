"""``prgym --log-level LEVEL``: what prgym's own loggers (``harness``, ``sandbox``, ``catalog_loader``,
``prgym``) print on stderr, for any command.

Without the flag (or ``PRGYM_LOG_LEVEL``) nothing is configured: Python's default prints warnings and errors, as
before. With it, one handler on the root logger prints ``time level logger: message`` lines, prgym's loggers log
at LEVEL, and other libraries (httpx, urllib3, ...) stay at their own levels, so ``--log-level debug`` shows prgym's
retries, resumes and store repairs without every HTTP request. ``prgym serve`` keeps its JSON log lines; its own
``--log-level`` defaults to this one.
"""

from __future__ import annotations

import logging
import sys
from enum import Enum

#: The packages whose loggers ``--log-level`` sets.
PRGYM_LOGGERS = ("harness", "sandbox", "catalog_loader", "prgym")
LOG_LEVEL_ENV = "PRGYM_LOG_LEVEL"


class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


_chosen: LogLevel | None = None


class _PrgymHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module added, so a second configuration replaces it instead of doubling lines."""


def configure_logging(level: LogLevel | None) -> None:
    """Apply ``--log-level`` (``None``: leave logging as Python configures it)."""
    global _chosen
    _chosen = level
    if level is None:
        return
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _PrgymHandler)]:
        root.removeHandler(handler)
    handler = _PrgymHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    for name in PRGYM_LOGGERS:
        logging.getLogger(name).setLevel(level.value.upper())


def chosen_level() -> str | None:
    """The level given to ``prgym --log-level`` in this invocation, if any (``prgym serve`` defaults to it)."""
    return _chosen.value if _chosen is not None else None
