"""Why an LLM request failed, read from the status, the error body and the transport exception.

The retry policy (:mod:`sandbox.retry`) decides by status; this module adds what the status alone gets wrong
on real servers:

- **Deterministic validation errors on a 5xx.** llama-cpp-python answers a request its pydantic model rejects
  ("Input should be a valid string") with HTTP 500; retrying sends the same body and fails the same way, so such
  a reply is ``invalid_request`` and not retried.
- **Context overflow** is ``context_length_exceeded`` whatever the status (OpenAI and vLLM send 400, SGLang and
  llama.cpp word it differently); the caller must shorten the prompt, not retry it.
- **A refused connection is not a timeout.** The SDK's aiohttp transport raises ``APITimeoutError`` for a
  refused connect; the exception chain still holds the ``ConnectionRefusedError``, so it is reported as
  ``connection_refused`` (the server is not running), apart from ``timeout`` (it is running but slow) and
  ``server_error`` (it answered 5xx).
"""

from __future__ import annotations

import json
import re
from typing import Any

CONTEXT_PATTERNS = re.compile(
    r"context_length_exceeded|maximum context length|context window|exceeds? the (available )?context"
    r"|longer than the model'?s context|context size|too many tokens|prompt is too long",
    re.IGNORECASE,
)
VALIDATION_PATTERNS = re.compile(
    r"input should be|validation error|field required|extra inputs are not permitted|is not of type"
    r"|invalid request|unprocessable",
    re.IGNORECASE,
)


def error_text(body: Any, message: str = "") -> str:
    """The error's text for matching and for the record: the SDK's message and the JSON body, shortened."""
    try:
        raw = body if isinstance(body, str) else json.dumps(body, default=str)
    except (TypeError, ValueError):
        raw = str(body)
    text = f"{message} {raw}" if raw and raw != "null" and raw not in message else message
    return " ".join(text.split())[:600]


def classify_status(status: int, text: str) -> tuple[str, bool]:
    """``(reason, retryable)`` for an HTTP error ``status`` whose body reads ``text``."""
    if CONTEXT_PATTERNS.search(text) and status in (400, 413, 422, 500):
        return "context_length_exceeded", False
    if status == 429:
        return "rate_limited", True
    if status >= 500:
        if VALIDATION_PATTERNS.search(text):
            return "invalid_request", False
        return "server_error", True
    if status in (408, 409):
        return "http_error", True
    return "http_error", False


def refused(exc: BaseException) -> bool:
    """Whether a transport exception was a refused connection (anywhere in its cause chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        os_error = getattr(current, "os_error", None)  # aiohttp.ClientConnectorError
        if isinstance(os_error, ConnectionRefusedError):
            return True
        text = str(current)
        if "Connection refused" in text or "Errno 111" in text or "ECONNREFUSED" in text:
            return True
        current = current.__cause__ or current.__context__
    return False
