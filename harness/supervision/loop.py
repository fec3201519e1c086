"""Run coroutines from synchronous code on one private event loop thread.

The env calls its supervisor synchronously (often from a worker thread of ``env.astep``), while the LLM client
is async and must stay on the loop it first used (its connection pool is bound to it). One daemon thread owns
one loop for the supervisor's lifetime; :meth:`LoopThread.run` submits a coroutine there and blocks until it
finishes. Safe to call from any thread, including one that runs another event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "prgym-supervisor-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the supervisor's event loop thread is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run must not be called from its own loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
