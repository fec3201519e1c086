"""Gymnasium registration of the prgym environments under versioned ids.

``prgym/ProductResearch-v0``: research tasks (generated from the catalog, or from ``tasks=``), 40 steps.
``prgym/ShoppingTask-v0``: ShoppingBench tasks (``tasks=`` a ShoppingBench file or task set), 30 steps.
Both need ``snapshot=`` (or ``backend=``) in ``gymnasium.make``. Registering twice is harmless.
"""

from __future__ import annotations

import gymnasium as gym

RESEARCH_ID = "prgym/ProductResearch-v0"
SHOPPING_ID = "prgym/ShoppingTask-v0"
RESEARCH_MAX_STEPS = 40
SHOPPING_MAX_STEPS = 30


def register_envs() -> None:
    """Register both ids (idempotent)."""
    registry = gym.envs.registration.registry
    if RESEARCH_ID not in registry:
        gym.register(
            id=RESEARCH_ID,
            entry_point="sandbox.env.core:ProductResearchEnv",
            max_episode_steps=RESEARCH_MAX_STEPS,
            kwargs={"task_mode": "research", "max_steps": RESEARCH_MAX_STEPS},
        )
    if SHOPPING_ID not in registry:
        gym.register(
            id=SHOPPING_ID,
            entry_point="sandbox.env.core:ProductResearchEnv",
            max_episode_steps=SHOPPING_MAX_STEPS,
            kwargs={"task_mode": "shopping", "max_steps": SHOPPING_MAX_STEPS},
        )
