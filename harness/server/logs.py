"""Structured JSON logs for ``prgym serve``: one JSON object per line on stderr.

Every record has ``ts``, ``level``, ``logger``, ``event`` (the log message) and the record's ``fields`` (given
with ``extra={"fields": {...}}``), so a log shipper or ``jq`` can filter by session, event or latency.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

LOGGER = "prgym.server"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", "pid", ...fields}``; exceptions go under ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "pid": os.getpid(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class _DenialNoise(logging.Filter):
    """Drop uvicorn's error line after a refused WebSocket handshake: the guard's 401/403/503 denial responses
    are deliberate (and logged as ``auth_refused`` / ``attach_refused``), not a broken app."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def setup_logging(level: str = "info") -> None:
    """Send the server's and uvicorn's logs to stderr as JSON lines (uvicorn's access log stays off)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_DenialNoise())
    for name in (LOGGER, "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``name`` with ``fields`` (cheap when the level is off)."""
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"fields": fields})
