"""Rollout runner: tasks x policies x trials, concurrent, failure-isolated, durable and resumable.

- :func:`run_rollouts` runs jobs through an async episode function into ``<out>/results.jsonl``;
- :func:`run_episode` drives one Gymnasium episode with a :class:`Policy`;
- :class:`OpenAIChatPolicy` is the policy over an OpenAI-compatible endpoint;
- :mod:`harness.rollout.cli` holds the ``prgym run`` command.
"""

from harness.rollout.episode import EnvContractError, Policy, run_episode
from harness.rollout.jobs import RolloutJob, make_jobs
from harness.rollout.policy import OpenAIChatPolicy
from harness.rollout.records import EpisodeOutcome, EpisodeRecord
from harness.rollout.runner import failure_reason, run_rollouts, run_rollouts_sync
from harness.rollout.store import ResultsFileError, ResultStore, read_records
from harness.rollout.summary import PolicySummary, RolloutSummary

__all__ = [
    "EnvContractError",
    "EpisodeOutcome",
    "EpisodeRecord",
    "OpenAIChatPolicy",
    "Policy",
    "PolicySummary",
    "ResultStore",
    "ResultsFileError",
    "RolloutJob",
    "RolloutSummary",
    "failure_reason",
    "make_jobs",
    "read_records",
    "run_episode",
    "run_rollouts",
    "run_rollouts_sync",
]
