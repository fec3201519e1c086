"""Eight processes writing and reading one cache file at once: afterwards nothing is lost or corrupted."""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
from pathlib import Path

import cache_worker as worker

from sandbox.web.cache import WebCache
from sandbox.web.keys import CacheRequest

PROCESSES = 8
N_OWN = 100
N_SHARED = 40


def test_eight_processes_lose_and_corrupt_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: nothing shared but the file
    start, results = ctx.Event(), ctx.Queue()
    processes = [
        ctx.Process(target=worker.work, args=(i, path, N_OWN, N_SHARED, start, results))
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    start.set()
    reports = []
    for _ in processes:
        try:
            reports.append(results.get(timeout=120))
        except queue.Empty:
            break
    for process in processes:
        process.join(timeout=30)
    assert [p.exitcode for p in processes] == [0] * PROCESSES
    assert sorted(r[0] for r in reports) == list(range(PROCESSES))
    assert [problem for _, _, problems in reports for problem in problems] == []

    with WebCache(path, worker.NAMESPACE) as cache:
        for writer in range(PROCESSES):
            for j in range(N_OWN):
                value = cache.get(worker.own_request(writer, j))
                assert value is not None, f"lost entry of writer {writer}, item {j}"
                assert value.payload == worker.own_payload(writer, j)
        for j in range(N_SHARED):
            value = cache.get(worker.shared_request(j))
            assert value is not None and worker.consistent_shared(j, value.payload)
        assert cache.verify() == []
        stats = cache.stats()
    assert stats.entries == PROCESSES * N_OWN + N_SHARED
    # Every lookup of every process was counted (batched counters flushed on close), plus ours above.
    worker_gets = sum(gets for _, gets, _ in reports)
    ours = PROCESSES * N_OWN + N_SHARED
    assert stats.hits + stats.misses == worker_gets + ours
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_forked_child_reopens_its_connection(tmp_path: Path) -> None:
    cache = WebCache(tmp_path / "c.sqlite", "fork")
    cache.put(CacheRequest.search("t", "parent"), {"by": "parent"})
    ctx = multiprocessing.get_context("fork")

    def child() -> None:
        cache.put(CacheRequest.search("t", "child"), {"by": "child"})
        assert cache.get(CacheRequest.search("t", "parent")).payload == {"by": "parent"}
        cache.close()

    process = ctx.Process(target=child)
    process.start()
    process.join(timeout=30)
    assert process.exitcode == 0
    assert cache.get(CacheRequest.search("t", "child")).payload == {"by": "child"}
    cache.close()
