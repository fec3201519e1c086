"""Generate task sets with the user agent: one seeded generator per task, a progress bar, JSONL out."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.user_agent.history import draw_history
from harness.user_agent.persona import infer_persona
from harness.user_agent.writer import TaskInfeasible, write_task
from sandbox.catalog.backend import CatalogBackend
from sandbox.tasks.models import ResearchTask

MAX_TRIES_PER_TASK = 20


def generate_user_task(
    backend: CatalogBackend, seed: int, index: int, *, min_products: int = 3
) -> ResearchTask:
    """Task ``index`` of seed ``seed``: independent of the other tasks (its own generator ``[seed, index]``)."""
    rng = np.random.default_rng([seed, index])
    for _ in range(MAX_TRIES_PER_TASK):
        history = draw_history(backend, rng)
        persona = infer_persona(history)
        try:
            return write_task(
                backend, history, persona, rng, task_id=f"ua-{seed}-{index:05d}", min_products=min_products
            )
        except TaskInfeasible:
            continue
    raise ValueError(f"no feasible task for seed {seed}, index {index} after {MAX_TRIES_PER_TASK} histories")


def generate_user_tasks(
    backend: CatalogBackend,
    n: int,
    seed: int,
    *,
    min_products: int = 3,
    on_task: Callable[[ResearchTask], None] | None = None,
) -> list[ResearchTask]:
    """``n`` template user-agent tasks (ids ``ua-<seed>-<i>``)."""
    tasks = []
    for index in range(n):
        task = generate_user_task(backend, seed, index, min_products=min_products)
        tasks.append(task)
        if on_task is not None:
            on_task(task)
    return tasks
