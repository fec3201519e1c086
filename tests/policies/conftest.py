"""Fixtures for the policy, user-agent and supervision tests: the real small catalog and generated tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.testing.openai_server import ScriptedOpenAIServer
from sandbox.catalog.backend import CatalogBackend
from sandbox.env import shared_backend
from sandbox.tasks.generator import generate_tasks
from sandbox.tasks.models import ResearchTask


@pytest.fixture(scope="session")
def backend(small_snapshot: Path) -> CatalogBackend:
    return shared_backend(small_snapshot)


@pytest.fixture(scope="session")
def research_tasks(backend: CatalogBackend) -> list[ResearchTask]:
    """Twelve tasks generated from the real catalog with a fixed seed."""
    return generate_tasks(backend, 12, seed=7)


@pytest.fixture
def llm_server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as srv:
        yield srv
