"""One retry policy (``sandbox/retry.py``) for the web clients and the LLM client: same statuses, same waits."""

from __future__ import annotations

import random

import httpx
import pytest
from web_http import LocalHTTPServer, send

import harness.llm
import harness.llm.client
from sandbox import retry
from sandbox.retry import Retrier, RetryExhausted, RetryPolicy, backoff_delay, is_retryable_status


def test_llm_client_and_web_share_the_policy() -> None:
    assert harness.llm.is_retryable_status is retry.is_retryable_status
    assert harness.llm.client.backoff_delay is retry.backoff_delay
    assert harness.llm.parse_retry_after is retry.parse_retry_after


@pytest.mark.parametrize("status", [408, 409, 429, 500, 501, 503, 529])
def test_web_retrier_retries_what_the_llm_client_retries(status: int) -> None:
    server = LocalHTTPServer().start()
    try:
        server.add("/x", lambda h: send(h, status, "no"))
        waits: list[float] = []
        with httpx.Client() as client, pytest.raises(RetryExhausted, match=f"HTTP {status} after 3"):
            Retrier(RetryPolicy(max_attempts=3), sleep=waits.append).send(client, "GET", server.url + "/x")
        assert is_retryable_status(status) and len(waits) == 2 and len(server.requests) == 3
    finally:
        server.stop()


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_answered_at_once(status: int) -> None:
    server = LocalHTTPServer().start()
    try:
        server.add("/x", lambda h: send(h, status, "no"))
        with httpx.Client() as client:
            response = Retrier(sleep=lambda s: None).send(client, "GET", server.url + "/x")
        assert response.status_code == status and len(server.requests) == 1
        assert not is_retryable_status(status)
    finally:
        server.stop()


def test_jitter_fraction_bounds_the_wait() -> None:
    rng = random.Random(3)
    for attempt in range(1, 6):
        nominal = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert nominal * 0.5 <= backoff_delay(attempt, 0.5, 8.0, rng) <= nominal
        assert backoff_delay(attempt, 0.5, 8.0, rng, jitter=0.0) == nominal
