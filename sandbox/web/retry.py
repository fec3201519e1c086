"""HTTP requests with bounded retries: exponential backoff with seeded jitter, honouring ``Retry-After``.

Search services rate-limit (429) and have bad moments (5xx, dropped connections); a research run should ride
these out without hammering the service. Jitter comes from a seeded generator and the sleep function is
injectable, so tests check the exact waits without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryPolicy(BaseModel):
    """How often and how patiently to retry. Attempt ``n`` (1-based) waits ``base * 2**(n-1)`` seconds, capped at
    ``max_delay_s``, stretched by up to ``jitter`` (a fraction) drawn from ``random.Random(seed)``."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=4, ge=1, le=20)
    base_delay_s: float = Field(default=0.5, ge=0)
    max_delay_s: float = Field(default=8.0, ge=0)
    jitter: float = Field(default=0.25, ge=0, le=1)
    max_retry_after_s: float = Field(default=60.0, ge=0)
    seed: int = 0


class RetryExhausted(Exception):
    """Every attempt failed; ``last_response`` or ``last_error`` says how the final one ended."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        last_response: httpx.Response | None = None,
        last_error: Exception | None = None,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_response = last_response
        self.last_error = last_error


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), ``None`` if absent/invalid."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    reference = now or datetime.now(timezone.utc)
    return max(0.0, (when - reference).total_seconds())


class Retrier:
    """Sends requests under a :class:`RetryPolicy`; one instance keeps one jitter stream."""

    def __init__(
        self, policy: RetryPolicy | None = None, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random(self.policy.seed)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based) when the server gave no ``Retry-After``."""
        p = self.policy
        delay = min(p.max_delay_s, p.base_delay_s * (2 ** (attempt - 1)))
        return delay * (1.0 + p.jitter * self._rng.random())

    def send(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The first response that is not retryable (any status outside 429/5xx), reading its body.

        Raises :class:`RetryExhausted` when every attempt hit a retryable status or a transport error (timeout,
        refused or dropped connection), or when ``Retry-After`` asks for a longer wait than the policy allows.
        """
        attempts = self.policy.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise RetryExhausted(
                        f"{type(exc).__name__} after {attempt} attempt(s): {exc}",
                        attempts=attempt,
                        last_error=exc,
                    ) from exc
                self._sleep(self.backoff(attempt))
                continue
            if response.status_code not in RETRY_STATUSES:
                return response
            if attempt == attempts:
                raise RetryExhausted(
                    f"HTTP {response.status_code} after {attempt} attempt(s)",
                    attempts=attempt,
                    last_response=response,
                )
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > self.policy.max_retry_after_s:
                raise RetryExhausted(
                    f"HTTP {response.status_code} with Retry-After {retry_after:.0f} s, longer than the "
                    f"{self.policy.max_retry_after_s:.0f} s this client waits",
                    attempts=attempt,
                    last_response=response,
                )
            self._sleep(retry_after if retry_after is not None else self.backoff(attempt))
        raise AssertionError("unreachable")
