"""Fixtures of the web tests: a real local HTTP server (see ``web_http.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web_http import LocalHTTPServer


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    server = LocalHTTPServer().start()
    try:
        yield server
    finally:
        server.stop()
