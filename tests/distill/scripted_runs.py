"""The scripted baseline under rule-based supervision, on a task set built so that every episode goes through
at least one critique-and-revise (shared by the distill tests; ``conftest.py`` exposes the fixture).

How the task set triggers a critique without changing the policy: each generated task gets one more rubric
dimension, ``aftercare``, whose only criterion needs the word "aftercare". The scripted report has a section per
standard dimension but never that word, so the rule-based supervisor rejects the first report with a
``rubric_coverage`` critique quoting the dimension and the missing criterion; the scripted agent then adds a
section with the missing criterion's text (which contains the keyword) and resubmits, and the revision is
accepted. The rest of each episode (plan, searches, visits, calculate) is the policy's own.

Two teachers roll out the same tasks: ``scripted-wide`` (the default policy, up to ten products per report) and
``scripted-narrow`` (at most five), recorded with distinct teacher names in separate traces files as two runs
would be.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.policies.scripted import ScriptedPolicy
from sandbox.env import ProductResearchEnv, shared_backend
from sandbox.recorder import EpisodeRecorder
from sandbox.tasks.generator import generate_tasks
from sandbox.tasks.models import ResearchTask, Rubric, RubricCriterion, RubricDimension

TASK_SEED = 11
N_TASKS = 4
AFTERCARE_CRITERION = "Explains the aftercare and servicing options of the recommended product"
#: The task split of each generated task, in order (so the export writes one file per split).
SPLITS = ("train", "train", "eval", "test")
TEACHERS: dict[str, dict[str, Any]] = {
    "scripted-wide": {"max_products": 10},
    "scripted-narrow": {"max_products": 5},
}


def with_aftercare(task: ResearchTask) -> ResearchTask:
    """``task`` with an extra rubric dimension the scripted report only covers after the critique."""
    dimensions = [d.model_copy(update={"weight": d.weight * 0.9}) for d in task.rubric.dimensions]
    dimensions.append(
        RubricDimension(
            name="aftercare",
            weight=0.1,
            criteria=[RubricCriterion(text=AFTERCARE_CRITERION, keywords=["aftercare"])],
        )
    )
    return task.model_copy(update={"rubric": Rubric(dimensions=dimensions)})


def critique_tasks(snapshot: Path) -> list[ResearchTask]:
    """Generated research tasks (fixed seed) over the snapshot, each with the aftercare dimension and the
    split :data:`SPLITS` gives it."""
    tasks = generate_tasks(shared_backend(snapshot), N_TASKS, seed=TASK_SEED)
    return [
        with_aftercare(t).model_copy(update={"split": split}) for t, split in zip(tasks, SPLITS, strict=True)
    ]


def run_teacher(
    snapshot: Path, tasks: list[ResearchTask], path: Path, teacher: str, settings: Mapping[str, Any]
) -> None:
    """Roll out every task once with a fresh scripted agent per episode, recorded to ``path``."""
    env = EpisodeRecorder(
        ProductResearchEnv(snapshot),
        path,
        policy={"teacher": teacher, "models": {"agent": "scripted"}, "settings": dict(settings)},
    )
    for seed, task in enumerate(tasks):
        _, info = env.reset(
            seed=seed, options={"task": task.model_dump(mode="json"), "episode_id": f"{teacher}-{seed}"}
        )
        policy = ScriptedPolicy(**settings)
        messages, tools = info["messages"], info["tools"]
        while True:
            action = policy.next_action(messages, tools)
            *_, terminated, truncated, info = env.step(action)
            messages = info["messages"]
            if terminated or truncated:
                break
    env.close()


@pytest.fixture(scope="session")
def scripted_runs(small_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs directory: ``<teacher>/traces.jsonl`` per teacher in :data:`TEACHERS`, same tasks and seeds."""
    root = tmp_path_factory.mktemp("scripted_runs")
    tasks = critique_tasks(small_snapshot)
    for teacher, settings in TEACHERS.items():
        folder = root / teacher
        folder.mkdir()
        run_teacher(small_snapshot, tasks, folder / "traces.jsonl", teacher, settings)
    return root
