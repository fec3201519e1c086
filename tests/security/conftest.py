"""Fixtures for the hardening tests: one research env on the real small snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.env import ProductResearchEnv


@pytest.fixture
def env(small_snapshot: Path):
    """A fresh research env, reset, with a huge step budget so hostile actions never end the episode."""
    made = ProductResearchEnv(small_snapshot, max_steps=10**9)
    made.reset(seed=0)
    yield made
    made.close()
