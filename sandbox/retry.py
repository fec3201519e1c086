"""The one retry policy: which HTTP answers deserve another attempt, how long to wait, and ``Retry-After``.

Every client that talks to a flaky service uses it: the web search providers and page fetcher
(:mod:`sandbox.web`), the Elasticsearch backend and the harness's LLM client (``harness.llm.client``). Before, the
LLM client and the web code each had a copy that disagreed on which statuses retry (408/409 and 501+ on one side
only) and on which way the jitter stretched the wait.

The waits are computed here, apart from the request code, so tests can check them exactly: jitter comes from a
``random.Random`` the caller seeds, and every client's sleep function is injectable.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    """429 (rate limit), 408/409 (timeout, conflict) and every 5xx are worth another attempt; other 4xx are not:
    the same request would fail the same way."""
    return status in RETRYABLE_STATUSES or status >= 500


def backoff_delay(
    attempt: int, base_s: float, cap_s: float, rng: random.Random, *, jitter: float = 0.5
) -> float:
    """Wait after failed attempt ``attempt`` (1-based): nominal ``min(cap, base * 2**(attempt-1))``, of which the
    fraction ``jitter`` is drawn uniformly (0.5 is "equal jitter": half fixed, half random). Concurrent clients
    that failed together do not retry in lockstep, yet never wait longer than the nominal delay."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    nominal = min(cap_s, base_s * (2 ** (attempt - 1)))
    return nominal * (1 - jitter) + rng.uniform(0, nominal * jitter)


def parse_retry_after(
    headers: Mapping[str, str] | str | None, *, now: datetime | None = None
) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms`` (OpenAI), else ``Retry-After`` as delta-seconds or
    an HTTP date; ``None`` when absent or unreadable. ``headers`` is the response's headers (names matched
    case-insensitively) or the bare ``Retry-After`` value."""
    if headers is None:
        return None
    if isinstance(headers, str):
        value = headers.strip()
    else:
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
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


class RetryPolicy(BaseModel):
    """How often and how patiently to retry. Attempt ``n`` (1-based) waits :func:`backoff_delay` of
    ``base_delay_s`` capped at ``max_delay_s``, the fraction ``jitter`` of it drawn from ``random.Random(seed)``;
    a ``Retry-After`` longer than ``max_retry_after_s`` ends the retries."""

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


class Retrier:
    """Sends synchronous httpx requests under a :class:`RetryPolicy`; one instance keeps one jitter stream."""

    def __init__(
        self, policy: RetryPolicy | None = None, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random(self.policy.seed)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based) when the server gave no ``Retry-After``."""
        p = self.policy
        return backoff_delay(attempt, p.base_delay_s, p.max_delay_s, self._rng, jitter=p.jitter)

    def send(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The first response that is not retryable (see :func:`is_retryable_status`), reading its body.

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
            if not is_retryable_status(response.status_code):
                return response
            if attempt == attempts:
                raise RetryExhausted(
                    f"HTTP {response.status_code} after {attempt} attempt(s)",
                    attempts=attempt,
                    last_response=response,
                )
            retry_after = parse_retry_after(response.headers)
            if retry_after is not None and retry_after > self.policy.max_retry_after_s:
                raise RetryExhausted(
                    f"HTTP {response.status_code} with Retry-After {retry_after:.0f} s, longer than the "
                    f"{self.policy.max_retry_after_s:.0f} s this client waits",
                    attempts=attempt,
                    last_response=response,
                )
            self._sleep(retry_after if retry_after is not None else self.backoff(attempt))
        raise AssertionError("unreachable")
