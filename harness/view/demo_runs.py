"""Scripted runs with supervisor critiques and report revisions, for the viewer's screenshots, benchmark and tests.

The scripted baseline passes the rule-based supervisor first time on generated tasks, so a plain demo run has
no critique to show. Here every ``critique_every``-th task gets one more rubric dimension, ``aftercare``, whose
criterion needs a word the scripted report only writes after a critique: the supervisor rejects the first
report with a ``rubric_coverage`` critique, the agent adds the missing section and resubmits, and the revision
is accepted (the same device as ``tests/distill/scripted_runs.py``). Everything else is the policy's own work.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from harness.cli.run import run_tasks
from harness.defaults import DEFAULT_CONCURRENCY
from harness.rollout.summary import RolloutSummary
from sandbox.env import shared_backend
from sandbox.tasks.generator import generate_tasks
from sandbox.tasks.models import ResearchTask, Rubric, RubricCriterion, RubricDimension
from sandbox.tasks.taskset import TaskSet

AFTERCARE = "Explains the aftercare and servicing options of the recommended product"


def with_aftercare(task: ResearchTask) -> ResearchTask:
    """``task`` with an extra rubric dimension the scripted report covers only after a critique."""
    dimensions = [d.model_copy(update={"weight": d.weight * 0.9}) for d in task.rubric.dimensions]
    dimensions.append(
        RubricDimension(
            name="aftercare", weight=0.1, criteria=[RubricCriterion(text=AFTERCARE, keywords=["aftercare"])]
        )
    )
    return task.model_copy(update={"rubric": Rubric(dimensions=dimensions)})


def demo_tasks(snapshot: Path, n: int, *, seed: int = 0, critique_every: int = 2) -> TaskSet:
    """``n`` user-agent tasks over ``snapshot``; every ``critique_every``-th one triggers a critique (0: none)."""
    tasks = generate_tasks(shared_backend(snapshot), n, seed)
    return TaskSet(
        with_aftercare(t) if critique_every and i % critique_every == 0 and isinstance(t, ResearchTask) else t
        for i, t in enumerate(tasks)
    )


def scripted_run(
    snapshot: Path,
    tasks: TaskSet,
    out: Path,
    *,
    trials: int = 1,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool = False,
) -> RolloutSummary:
    """``prgym run --policy scripted`` on ``tasks`` into ``out`` (results, traces, summary, tasks)."""
    out.mkdir(parents=True, exist_ok=True)
    tasks.save(out / "tasks.jsonl")
    return asyncio.run(
        run_tasks(
            tasks=tasks, catalog=snapshot, policies=["scripted"], trials=trials, out=out,
            concurrency=concurrency, progress=progress,
        )
    )  # fmt: skip
