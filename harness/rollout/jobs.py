"""Rollout jobs: one episode of one task under one policy for one trial, with a stable key and seed.

The key is what resume matches on, so it must not depend on anything but the job's identity; the seed depends
only on the task and trial (not the policy), so every policy in an ensemble faces the same env randomness on
the same task and trial, which is what makes their trajectories comparable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

KEY_SEPARATOR = "::"


class RolloutJob(BaseModel):
    """One episode to run."""

    model_config = ConfigDict(frozen=True)

    task_id: str = Field(min_length=1)
    policy: str = Field(min_length=1)
    trial: int = Field(ge=0)

    @field_validator("task_id", "policy")
    @classmethod
    def _no_separator(cls, value: str) -> str:
        if KEY_SEPARATOR in value:
            raise ValueError(
                f"must not contain {KEY_SEPARATOR!r} (it separates the parts of the episode key)"
            )
        return value

    @property
    def episode_key(self) -> str:
        """``task::policy::trial``: unique per job and stable across runs."""
        return KEY_SEPARATOR.join((self.task_id, self.policy, str(self.trial)))

    def seed(self, base_seed: int = 0) -> int:
        """A 31-bit seed from ``(base_seed, task_id, trial)``: the same for every policy on a task and trial."""
        digest = hashlib.sha256(f"{base_seed}\x00{self.task_id}\x00{self.trial}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def make_jobs(task_ids: Sequence[str], policies: Sequence[str], trials: int) -> list[RolloutJob]:
    """Every task x policy x trial, trial-major (all of trial 0 first) so a partial run covers every task.

    Duplicate task ids or policy names are an error: they would make two jobs with one key.
    """
    if trials < 1:
        raise ValueError(f"trials: expected >= 1, got {trials}")
    for name, values in (("task id", task_ids), ("policy", policies)):
        if not values:
            raise ValueError(f"no {name}s given")
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise ValueError(f"duplicate {name} {value!r}")
            seen.add(value)
    return [
        RolloutJob(task_id=task, policy=policy, trial=trial)
        for trial in range(trials)
        for task in task_ids
        for policy in policies
    ]


def check_unique(jobs: Iterable[RolloutJob]) -> None:
    """Raise if two jobs share an episode key."""
    seen: set[str] = set()
    for job in jobs:
        if job.episode_key in seen:
            raise ValueError(f"duplicate job {job.episode_key!r}: every task x policy x trial must be unique")
        seen.add(job.episode_key)
