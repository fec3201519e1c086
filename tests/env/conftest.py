"""Fixtures for the env tests: the shared real snapshot's backend, ShoppingBench files, env factories."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.catalog.backend import CatalogBackend
from sandbox.env import ProductResearchEnv, shared_backend


@pytest.fixture(scope="session")
def backend(small_snapshot: Path) -> CatalogBackend:
    return shared_backend(small_snapshot)


@pytest.fixture(scope="session")
def shoppingbench_dir(shared_data: Path) -> Path:
    return shared_data / "shoppingbench"


@pytest.fixture(scope="session")
def web_tasks_file(shoppingbench_dir: Path) -> Path:
    return shoppingbench_dir / "synthesize_web_simpleqa_test.jsonl"


@pytest.fixture
def make_env(small_snapshot: Path):
    """Build research-mode envs on the small snapshot; closes them at the end of the test."""
    made: list[ProductResearchEnv] = []

    def build(**kwargs) -> ProductResearchEnv:
        env = ProductResearchEnv(small_snapshot, **kwargs)
        made.append(env)
        return env

    yield build
    for env in made:
        env.close()
