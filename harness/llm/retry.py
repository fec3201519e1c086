"""When to retry an LLM request and how long to wait: exponential backoff with seeded jitter, or the server's
``Retry-After``.

The waits are computed here, apart from the request code, so tests can check them exactly: jitter comes from a
``random.Random`` the caller seeds, and the client's sleep function is injectable.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    """429 (rate limit), 408/409 (timeout, conflict) and every 5xx are worth another attempt; other 4xx are not:
    the same request would fail the same way."""
    return status in RETRYABLE_STATUSES or status >= 500


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Wait after failed attempt ``attempt`` (1-based): ``min(cap, base * 2**(attempt-1))``, "equal jitter" (half
    fixed, half uniform), so concurrent clients that failed together do not retry in lockstep yet still wait at
    least half the nominal delay."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    nominal = min(cap_s, base_s * (2 ** (attempt - 1)))
    return nominal / 2 + rng.uniform(0, nominal / 2)


def parse_retry_after(headers: Mapping[str, str] | None, *, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms`` (OpenAI), else ``Retry-After`` as delta-seconds or
    an HTTP date; ``None`` when absent or unreadable. Header names are matched case-insensitively."""
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())
