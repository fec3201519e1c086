"""Generate task sets with the user agent: one seeded generator per task, a progress bar, JSONL out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from harness.llm.client import LLMClient
from harness.user_agent.history import TOO_SMALL_HINT, CatalogTooSmallError, draw_history
from harness.user_agent.llm_writer import write_task_llm
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
    raise CatalogTooSmallError(
        f"no feasible task for seed {seed}, index {index} after {MAX_TRIES_PER_TASK} histories "
        f"(too few comparable products that meet a history's constraints)",
        hint=TOO_SMALL_HINT,
    )


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


async def generate_llm_task(
    client: LLMClient,
    backend: CatalogBackend,
    seed: int,
    index: int,
    *,
    min_products: int = 3,
    max_attempts: int = 3,
) -> ResearchTask:
    """Task ``index`` written by the LLM from the same history the template variant would draw first."""
    rng = np.random.default_rng([seed, index])
    for _ in range(MAX_TRIES_PER_TASK):
        history = draw_history(backend, rng)
        persona = infer_persona(history)
        try:
            return await write_task_llm(
                client,
                backend,
                history,
                persona,
                rng,
                task_id=f"ua-{seed}-{index:05d}",
                min_products=min_products,
                max_attempts=max_attempts,
            )
        except TaskInfeasible:
            continue
    raise CatalogTooSmallError(
        f"no feasible task for seed {seed}, index {index} after {MAX_TRIES_PER_TASK} histories "
        f"(too few comparable products that meet a history's constraints)",
        hint=TOO_SMALL_HINT,
    )


async def generate_llm_tasks(
    client: LLMClient,
    backend: CatalogBackend,
    n: int,
    seed: int,
    *,
    min_products: int = 3,
    max_attempts: int = 3,
    concurrency: int = 4,
    on_task: Callable[[ResearchTask], None] | None = None,
) -> list[ResearchTask]:
    """``n`` LLM user-agent tasks, ``concurrency`` requests in flight, returned in index order."""
    if concurrency < 1:
        raise ValueError(f"concurrency: expected >= 1, got {concurrency}")
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> ResearchTask:
        async with gate:
            task = await generate_llm_task(
                client, backend, seed, index, min_products=min_products, max_attempts=max_attempts
            )
        if on_task is not None:
            on_task(task)
        return task

    return list(await asyncio.gather(*(one(i) for i in range(n))))
