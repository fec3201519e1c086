"""Gymnasium registration of the prgym environments under versioned ids.

``prgym/ProductResearch-v0``: research tasks (generated from the catalog, or from ``tasks=``), 40 steps.
``prgym/ShoppingTask-v0``: ShoppingBench tasks (``tasks=`` a ShoppingBench file or task set), 30 steps.
Both need ``snapshot=`` (or ``backend=``) in ``gymnasium.make``. Registering twice is harmless.

One truncation mechanism: the env's own ``max_steps``. The ids are registered without ``max_episode_steps``, so
``gymnasium.make`` adds no ``TimeLimit`` that would cut an episode before the env could compute its terminal
reward (``gym.make(ID, max_steps=100)`` really runs 100 steps, and its last step carries the reward and
metrics). Bound an episode with ``max_steps``, not with ``gymnasium.make(..., max_episode_steps=N)``: that adds a
``TimeLimit`` the env cannot see, whose truncating step has no terminal reward.

``gymnasium.make_vec(ID, num_envs=N, ...)`` without a ``vectorization_mode`` goes through
:func:`make_vector_env`, which turns ``info_messages`` off by default (see the env's ``info_messages``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

RESEARCH_ID = "prgym/ProductResearch-v0"
SHOPPING_ID = "prgym/ShoppingTask-v0"
RESEARCH_MAX_STEPS = 40
SHOPPING_MAX_STEPS = 30


def make_vector_env(num_envs: int = 1, *, asynchronous: bool = True, **kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` prgym envs in a Gymnasium vector env (one worker process each; ``asynchronous=False``: in
    this process).

    The full chat is not copied into every step's info (``info_messages=False`` unless given): in a vector env
    each info is pickled across processes on every step. Each step's info still holds ``new_messages``.
    """
    from sandbox.env.core import ProductResearchEnv

    kwargs.setdefault("info_messages", False)
    limit = kwargs.pop("max_episode_steps", None)  # make_vec passes it on; here it can only mean max_steps
    if limit is not None:
        kwargs["max_steps"] = min(int(kwargs.get("max_steps", limit)), int(limit))
    fns = [lambda: ProductResearchEnv(**kwargs) for _ in range(num_envs)]
    if asynchronous:
        return gym.vector.AsyncVectorEnv(fns, shared_memory=False)
    return gym.vector.SyncVectorEnv(fns)


def register_envs() -> None:
    """Register both ids (idempotent)."""
    registry = gym.envs.registration.registry
    for env_id, mode, steps in (
        (RESEARCH_ID, "research", RESEARCH_MAX_STEPS),
        (SHOPPING_ID, "shopping", SHOPPING_MAX_STEPS),
    ):
        if env_id not in registry:
            gym.register(
                id=env_id,
                entry_point="sandbox.env.core:ProductResearchEnv",
                vector_entry_point="sandbox.env.registration:make_vector_env",
                kwargs={"task_mode": mode, "max_steps": steps},
            )
