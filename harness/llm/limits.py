"""A concurrency limit per endpoint, shared by every client that talks to it.

An endpoint (a vLLM server, an OpenAI account) has one capacity however many episodes and roles call it, so
the limit belongs to the endpoint (keyed by ``base_url``), not to a client object. A registry is passed to the
clients that should share it; :data:`DEFAULT_LIMITS` is the process-wide one used when none is given.

``asyncio.Semaphore`` objects belong to one event loop, so the registry keeps one set per running loop (tests
and CLI commands each run their own loop).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace


def endpoint_key(base_url: str) -> str:
    """Normalise a base URL so ``http://h:8000/v1`` and ``http://h:8000/v1/`` share one limit."""
    return base_url.strip().rstrip("/").lower()


@dataclass
class EndpointStats:
    """Observed use of one endpoint's limit (a plain dataclass: it is updated twice per request)."""

    limit: int
    in_flight: int = 0
    peak_in_flight: int = 0
    acquired: int = 0


class _Endpoint:
    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.stats = EndpointStats(limit=limit)


class EndpointLimits:
    """Registry of per-endpoint semaphores. The first limit given for an endpoint (per event loop) is the one
    used, unless ``overrides`` fixes it up front (``{base_url: limit}``)."""

    def __init__(self, overrides: dict[str, int] | None = None) -> None:
        for url, limit in (overrides or {}).items():
            if limit < 1:
                raise ValueError(f"endpoint limit for {url}: expected >= 1, got {limit}")
        self._overrides = {endpoint_key(u): n for u, n in (overrides or {}).items()}
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Endpoint]] = (
            weakref.WeakKeyDictionary()
        )

    def _endpoint(self, base_url: str, limit: int) -> _Endpoint:
        loop = asyncio.get_running_loop()
        endpoints = self._per_loop.setdefault(loop, {})
        key = endpoint_key(base_url)
        if key not in endpoints:
            endpoints[key] = _Endpoint(self._overrides.get(key, limit))
        return endpoints[key]

    @asynccontextmanager
    async def slot(self, base_url: str, limit: int) -> AsyncIterator[None]:
        """Hold one of the endpoint's slots for the duration of a request."""
        endpoint = self._endpoint(base_url, limit)
        async with endpoint.semaphore:
            stats = endpoint.stats
            stats.in_flight += 1
            stats.acquired += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
            try:
                yield
            finally:
                stats.in_flight -= 1

    def stats(self, base_url: str) -> EndpointStats | None:
        """Use of ``base_url``'s limit in the running loop (``None`` if never used there)."""
        endpoint = self._per_loop.get(asyncio.get_running_loop(), {}).get(endpoint_key(base_url))
        return None if endpoint is None else replace(endpoint.stats)


DEFAULT_LIMITS = EndpointLimits()
