"""What an episode returns (:class:`EpisodeOutcome`) and the line the runner writes for it
(:class:`EpisodeRecord`)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.rollout.jobs import RolloutJob


class EpisodeOutcome(BaseModel):
    """The result of a finished episode, as returned by an episode function. ``info`` holds any other
    JSON-ready details worth keeping in the results file (env version, catalog snapshot, ...)."""

    reward: float
    reward_components: dict[str, float] = Field(default_factory=dict)
    steps: int = Field(default=0, ge=0)
    terminated: bool = True
    truncated: bool = False
    usage: dict[str, int] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)

    @field_validator("reward")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"reward must be a finite number, got {value}")
        return value


class EpisodeRecord(BaseModel):
    """One line of ``results.jsonl``: a finished episode, completed or failed (with reason and traceback)."""

    model_config = ConfigDict(extra="allow")

    episode_key: str
    task_id: str
    policy: str
    trial: int
    seed: int
    status: Literal["completed", "failed"]
    reason: str | None = Field(
        default=None, description="Failure kind: timeout, llm_<reason>, an exception name."
    )
    error: str | None = None
    traceback: str | None = None
    reward: float | None = None
    reward_components: dict[str, float] = Field(default_factory=dict)
    steps: int = 0
    terminated: bool | None = None
    truncated: bool | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)
    started_at: str
    duration_s: float

    @classmethod
    def completed(
        cls, job: RolloutJob, seed: int, outcome: EpisodeOutcome, started_at: str, duration_s: float
    ) -> EpisodeRecord:
        return cls(
            **_identity(job, seed),
            status="completed",
            reward=outcome.reward,
            reward_components=outcome.reward_components,
            steps=outcome.steps,
            terminated=outcome.terminated,
            truncated=outcome.truncated,
            usage=outcome.usage,
            info=outcome.info,
            started_at=started_at,
            duration_s=duration_s,
        )

    @classmethod
    def failed(
        cls,
        job: RolloutJob,
        seed: int,
        *,
        reason: str,
        error: str,
        traceback: str | None,
        started_at: str,
        duration_s: float,
        steps: int = 0,
        usage: dict[str, int] | None = None,
        info: dict[str, Any] | None = None,
    ) -> EpisodeRecord:
        """A failed episode, with the steps and tokens it spent before failing (they were paid for)."""
        return cls(
            **_identity(job, seed),
            status="failed",
            reason=reason,
            error=error,
            traceback=traceback,
            steps=steps,
            usage=dict(usage or {}),
            info=dict(info or {}),
            started_at=started_at,
            duration_s=duration_s,
        )


def _identity(job: RolloutJob, seed: int) -> dict[str, Any]:
    return {
        "episode_key": job.episode_key,
        "task_id": job.task_id,
        "policy": job.policy,
        "trial": job.trial,
        "seed": seed,
    }
