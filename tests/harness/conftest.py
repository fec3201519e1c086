"""Fixtures for the harness tests: a scripted OpenAI-compatible server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.testing.openai_server import ScriptedOpenAIServer


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    """A started scripted server with an empty script (tests push replies or set a responder)."""
    with ScriptedOpenAIServer() as srv:
        yield srv
