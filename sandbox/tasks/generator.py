"""The one research-task generator: catalog -> behaviour history -> persona -> a writer's task, checked feasible.

Task ``index`` of seed ``seed`` has its own generator, ``np.random.default_rng([seed, index])``, so a task does
not depend on the others (a set can grow; an LLM writes tasks concurrently and out of order) and the same seed,
catalog and writer give byte-identical tasks. For each task the generator draws a coherent behaviour history
(:mod:`sandbox.tasks.history`), infers the persona (:mod:`sandbox.tasks.persona`) and hands both to a writer:

* :class:`~sandbox.tasks.template_writer.TemplateTaskWriter` (offline, the default): fixed phrases, feasible by
  construction;
* an LLM writer (``harness.user_agent.LLMTaskWriter``, ``prgym tasks generate --writer openai:MODEL``): the model
  infers intent and writes the task, checked like the template's, falling back to the template per task. It is
  asynchronous, so its tasks come from :func:`agenerate_tasks` (requests in flight up to ``concurrency``).

A writer raising :class:`~sandbox.tasks.template_writer.TaskInfeasible` for a history makes the generator draw the
next one (at most :data:`MAX_TRIES_PER_TASK`), then :class:`~sandbox.tasks.history.CatalogTooSmallError`.
Without a task set the env draws its task with :func:`research_task` from its own ``np_random``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from sandbox.catalog.backend import CatalogBackend
from sandbox.tasks.feasibility import feasible_products, nice_budget, random_product
from sandbox.tasks.history import (
    TOO_SMALL_HINT,
    BehaviourHistory,
    CatalogTooSmallError,
    TaskDraw,
    draw_history,
)
from sandbox.tasks.models import ResearchTask
from sandbox.tasks.persona import InferredPersona, infer_persona
from sandbox.tasks.template_writer import TaskInfeasible, TemplateTaskWriter

__all__ = [
    "MAX_TRIES_PER_TASK",
    "TEMPLATE",
    "AsyncTaskWriter",
    "TaskDraw",
    "TaskWriter",
    "agenerate_task",
    "agenerate_tasks",
    "feasible_products",
    "generate_task",
    "generate_tasks",
    "nice_budget",
    "random_product",
    "research_task",
    "task_id_for",
]

MAX_TRIES_PER_TASK = 20


class TaskWriter(Protocol):
    """Writes the task of one draw; raises ``TaskInfeasible`` when none fits the catalog for that history."""

    name: str

    def write(self, draw: TaskDraw) -> ResearchTask: ...


class AsyncTaskWriter(Protocol):
    """A :class:`TaskWriter` whose ``write`` is a coroutine (a model behind an HTTP endpoint)."""

    name: str

    async def write(self, draw: TaskDraw) -> ResearchTask: ...


TEMPLATE = TemplateTaskWriter()


def task_id_for(seed: int, index: int) -> str:
    """The id of task ``index`` of seed ``seed`` (``ua-3-00007``), whichever writer wrote it."""
    return f"ua-{seed}-{index:05d}"


def _histories(
    backend: CatalogBackend, rng: np.random.Generator
) -> Iterator[tuple[BehaviourHistory, InferredPersona]]:
    """The histories (with their personas) a task may be written from, drawn one at a time from ``rng``."""
    for _ in range(MAX_TRIES_PER_TASK):
        history = draw_history(backend, rng)
        yield history, infer_persona(history)


def _too_small(task_id: str) -> CatalogTooSmallError:
    return CatalogTooSmallError(
        f"no feasible task {task_id} after {MAX_TRIES_PER_TASK} histories "
        f"(too few comparable products that meet a history's constraints)",
        hint=TOO_SMALL_HINT,
    )


def research_task(
    backend: CatalogBackend,
    rng: np.random.Generator,
    *,
    task_id: str | None = None,
    min_products: int = 3,
    writer: TaskWriter = TEMPLATE,
) -> ResearchTask:
    """One task drawn with ``rng`` (the env's ``np_random``); ``task_id`` defaults to ``ua-<anchor product>``."""
    for history, persona in _histories(backend, rng):
        name = task_id or f"ua-{history.anchor_id}"
        try:
            return writer.write(TaskDraw(backend, history, persona, rng, name, min_products))
        except TaskInfeasible:
            continue
    raise _too_small(task_id or "(drawn)")


def generate_task(
    backend: CatalogBackend, seed: int, index: int, *, min_products: int = 3, writer: TaskWriter = TEMPLATE
) -> ResearchTask:
    """Task ``index`` of seed ``seed``, independent of the other tasks (its own generator ``[seed, index]``)."""
    rng = np.random.default_rng([seed, index])
    return research_task(
        backend, rng, task_id=task_id_for(seed, index), min_products=min_products, writer=writer
    )


def generate_tasks(
    backend: CatalogBackend,
    n: int,
    seed: int,
    *,
    min_products: int = 3,
    writer: TaskWriter = TEMPLATE,
    on_task: Callable[[ResearchTask], None] | None = None,
) -> list[ResearchTask]:
    """``n`` tasks of seed ``seed`` (ids ``ua-<seed>-<i>``); ``on_task`` sees each one as it is written."""
    tasks = []
    for index in range(n):
        task = generate_task(backend, seed, index, min_products=min_products, writer=writer)
        tasks.append(task)
        if on_task is not None:
            on_task(task)
    return tasks


async def agenerate_task(
    backend: CatalogBackend, seed: int, index: int, *, writer: AsyncTaskWriter, min_products: int = 3
) -> ResearchTask:
    """:func:`generate_task` with an asynchronous writer: the same histories, in the same order."""
    rng = np.random.default_rng([seed, index])
    task_id = task_id_for(seed, index)
    for history, persona in _histories(backend, rng):
        try:
            return await writer.write(TaskDraw(backend, history, persona, rng, task_id, min_products))
        except TaskInfeasible:
            continue
    raise _too_small(task_id)


async def agenerate_tasks(
    backend: CatalogBackend,
    n: int,
    seed: int,
    *,
    writer: AsyncTaskWriter,
    min_products: int = 3,
    concurrency: int = 4,
    on_task: Callable[[ResearchTask], None] | None = None,
) -> list[ResearchTask]:
    """``n`` tasks by an asynchronous writer, ``concurrency`` of them in flight, returned in index order."""
    if concurrency < 1:
        raise ValueError(f"concurrency: expected >= 1, got {concurrency}")
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> ResearchTask:
        async with gate:
            task = await agenerate_task(backend, seed, index, writer=writer, min_products=min_products)
        if on_task is not None:
            on_task(task)
        return task

    return list(await asyncio.gather(*(one(i) for i in range(n))))
