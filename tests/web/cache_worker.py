"""Worker of the cache concurrency test, in its own module so spawned processes import only what they need."""

from __future__ import annotations

import random

from sandbox.web.cache import WebCache
from sandbox.web.keys import CacheRequest

NAMESPACE = "concurrency"


def own_request(writer: int, j: int) -> CacheRequest:
    return CacheRequest.search("test", f"writer {writer} item {j}")


def shared_request(j: int) -> CacheRequest:
    return CacheRequest.page(f"https://shared.test/item/{j}")


def own_payload(writer: int, j: int) -> dict:
    # Sizes vary so both the plain and the compressed encodings are exercised.
    return {"writer": writer, "j": j, "text": f"w{writer}-{j} " * (1 + (j % 7) * 60)}


def shared_payload(writer: int, j: int) -> dict:
    return {"writer": writer, "j": j, "text": f"shared {j} by {writer} " * (1 + (j % 5) * 40)}


def consistent_shared(j: int, payload: dict) -> bool:
    return payload["j"] == j and payload == shared_payload(payload["writer"], j)


def work(writer: int, path: str, n_own: int, n_shared: int, start, results) -> None:
    """Interleave writes of own and shared keys with reads of both; report (writer, gets, problems)."""
    rng = random.Random(writer)
    problems: list[str] = []
    gets = 0
    start.wait(30)
    with WebCache(path, NAMESPACE) as cache:
        for j in range(n_own):
            cache.put(own_request(writer, j), own_payload(writer, j))
            cache.put(shared_request(j % n_shared), shared_payload(writer, j % n_shared))
            back = cache.get(own_request(writer, j))
            gets += 1
            if back is None or back.payload != own_payload(writer, j):
                problems.append(f"own {writer}/{j} read back wrong")
            k = rng.randrange(n_shared)
            other = cache.get(shared_request(k))
            gets += 1
            if other is not None and not consistent_shared(k, other.payload):
                problems.append(f"shared {k} inconsistent")
    results.put((writer, gets, problems))
