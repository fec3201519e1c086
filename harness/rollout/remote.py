"""Episodes on remote env servers: spread sessions over ``prgym serve`` URLs and rerun an episode whose server
dropped it on another one.

:class:`EnvServerPool` hands each new episode to the reachable server with the fewest sessions this runner has
open on it (ties: the order given). When an attempt fails with :class:`~prgym.client.SessionLostError` (the
server died, restarted, closed the session or is full), the server is set aside for ``cooldown_s``, the attempt's
partial trace is discarded, and the episode runs again from its reset, with the same seed, on the next server.
Only the attempt that finishes is returned, so the runner records each episode exactly once; the record's info
says which server ran it (``env_url``) and after how many attempts (``attempts``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from prgym.errors import SessionLostError

log = logging.getLogger(__name__)
T = TypeVar("T")


class AllServersFailed(SessionLostError):
    """Every attempt of an episode lost its session; the message lists each server's error."""


class EnvServerPool:
    """The env servers of one run (see module doc)."""

    def __init__(
        self, urls: Sequence[str], *, cooldown_s: float = 30.0, max_attempts: int | None = None
    ) -> None:
        cleaned = [u.strip().rstrip("/") for u in urls if u.strip()]
        if not cleaned:
            raise ValueError("--env-url: no server URL given (expected URL[,URL...])")
        for url in cleaned:
            if not url.startswith(("http://", "https://", "ws://", "wss://")):
                raise ValueError(f"--env-url {url!r}: expected an http://, https://, ws:// or wss:// URL")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("--env-url: a server URL is listed twice")
        self.urls = cleaned
        self.cooldown_s = cooldown_s
        self.max_attempts = max_attempts or len(cleaned) + 1
        self._open = dict.fromkeys(cleaned, 0)
        self._down_until = dict.fromkeys(cleaned, 0.0)

    def acquire(self, avoid: str | None = None) -> str:
        """The server for the next attempt (not ``avoid`` when another one is usable)."""
        now = time.monotonic()
        up = [u for u in self.urls if self._down_until[u] <= now] or list(self.urls)
        if avoid is not None and len(up) > 1:
            up = [u for u in up if u != avoid] or up
        url = min(up, key=lambda u: (self._open[u], self.urls.index(u)))
        self._open[url] += 1
        return url

    def release(self, url: str, *, lost: bool = False) -> None:
        self._open[url] -= 1
        if lost:
            self._down_until[url] = time.monotonic() + self.cooldown_s

    async def run(self, attempt: Callable[[str, int], Awaitable[T]]) -> tuple[T, str, int]:
        """Run ``attempt(url, number)`` until one finishes; returns ``(result, url, attempts)``."""
        errors: list[str] = []
        last: str | None = None
        for number in range(1, self.max_attempts + 1):
            url = self.acquire(avoid=last)
            try:
                result = await attempt(url, number)
            except SessionLostError as exc:
                self.release(url, lost=True)
                errors.append(f"attempt {number} on {url}: {exc}")
                log.warning(
                    "episode attempt %d on %s lost its session; retrying elsewhere: %s", number, url, exc
                )
                last = url
                continue
            except BaseException:
                self.release(url)
                raise
            self.release(url)
            return result, url, number
        raise AllServersFailed("every attempt lost its env server session: " + " | ".join(errors))
