"""The prgym side of the rollout runner: tasks x policies x trials in the prgym env, recorded, with metrics.

What ``prgym run`` and ``prgym demo`` (and, for prgym envs, ``prgym rollout``) share, so that there is one code
path: :func:`run_tasks` builds one :class:`~sandbox.env.ProductResearchEnv` per episode (its keyword arguments
from the caller: web tools, backend kind, reward weights, revision limits, ...), wraps it in the one wrapper
between runner and env, :class:`~sandbox.recorder.EpisodeRecorder` (the trace of every episode in
``OUT/traces.jsonl``, named after the runner's episode key; the input of ``prgym distill``), and drives it with
:func:`~harness.rollout.episode.run_episode`, which keeps the last step's metrics in the episode record.

Policies: ``scripted`` (the baseline) and ``openai:MODEL`` (the research agent with context trimming);
supervisors: ``rules`` (the env's own) or ``openai:MODEL`` (an LLM supervisor per episode).

Traces and resume: a trace is appended when its episode ends, its record in ``results.jsonl`` just after. Before
each run, :func:`reconcile_traces` keeps only traces whose ``episode_id`` has a record, the last one per key, so
a crash between the two writes never leaves a duplicate or an orphan once the episode has run again.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
from rich.console import Console
from rich.table import Table

from harness.defaults import DEFAULT_CONCURRENCY, DEFAULT_MAX_STEPS
from harness.llm.client import LLMClient
from harness.llm.config import LLMConfig, load_llm_config
from harness.llm.spec import model_of
from harness.policies.context import TrimStrategy
from harness.policies.openai_agent import ResearchAgentPolicy
from harness.policies.scripted import ScriptedPolicy
from harness.rollout.episode import Policy, episode_progress, run_episode
from harness.rollout.jobs import RolloutJob, make_jobs
from harness.rollout.preflight import RunIdentity, check_llm_endpoint, check_run_identity, text_checksum
from harness.rollout.records import EpisodeOutcome
from harness.rollout.remote import EnvServerPool
from harness.rollout.runner import run_rollouts
from harness.rollout.store import ResultStore, read_records
from harness.rollout.summary import RolloutSummary
from harness.supervision import LLMSupervisor
from sandbox.catalog.snapshot import Snapshot
from sandbox.env import ProductResearchEnv
from sandbox.recorder import EpisodeRecorder
from sandbox.tasks.models import ShoppingTask
from sandbox.tasks.taskset import TaskSet

TRACES_NAME = "traces.jsonl"
METRIC_KEYS = (
    "effective_product_count",
    "constraint_satisfying_count",
    "grounding_accuracy",
    "constraint_satisfaction",
    "claims_checked",
    "r_pro",
    "success",
)
#: Env keyword arguments the runner sets itself (a caller's ``env_args`` may not override them).
RUNNER_ENV_ARGS = frozenset({"snapshot", "backend", "tasks", "supervisor", "on_event", "render_mode"})


class PolicySpec:
    """One ``--policy``: a per-episode factory, the shared client to close, and the trace metadata."""

    def __init__(
        self, make: Callable[[], Policy], client: LLMClient | None, metadata: dict[str, Any]
    ) -> None:
        self.make = make
        self.client = client
        self.metadata = metadata


def policy_factory(
    spec: str, *, llm_config: Path | None, llm_set: list[str], keep_tool_results: int
) -> PolicySpec:
    """``scripted`` or ``openai:MODEL`` -> a per-episode policy factory (and the shared client to close)."""
    model = model_of(spec, flag="--policy", alternatives=("scripted",))
    if model is None:
        return PolicySpec(ScriptedPolicy, None, {"teacher": "scripted", "policy": "scripted"})
    config = load_llm_config("agent", file=llm_config, overrides=[*llm_set, f"model={model}"])
    client = LLMClient(config)
    trim = TrimStrategy(keep_last_tool_results=keep_tool_results)
    metadata = {
        "teacher": spec,
        "policy": spec,
        "models": {"agent": config.model},
        "base_url": config.base_url,
        "temperature": config.temperature,
        "keep_tool_results": keep_tool_results,
    }
    return PolicySpec(lambda: ResearchAgentPolicy(client.session(), trim=trim), client, metadata)


def supervisor_factory(
    spec: str, *, llm_config: Path | None, llm_set: list[str]
) -> Callable[[], LLMSupervisor | None]:
    """``rules`` (the env's rule-based supervisor) or ``openai:MODEL`` (a fresh LLMSupervisor per episode, role
    ``supervisor``; ``--llm-set`` applies to it too)."""
    model = model_of(spec, flag="--supervisor", alternatives=("rules",))
    if model is None:
        return lambda: None
    config = load_llm_config("supervisor", file=llm_config, overrides=[*llm_set, f"model={model}"])
    return lambda: LLMSupervisor(config)


def check_env_args(env_args: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's env keyword arguments, checked against ``ProductResearchEnv``'s signature: an unknown name or
    one the runner sets itself is a ValueError naming it and the names that are accepted."""
    accepted = set(inspect.signature(ProductResearchEnv).parameters) - RUNNER_ENV_ARGS
    for name in env_args:
        if name not in accepted:
            raise ValueError(
                f"--env-arg {name}: not an env argument the run can set; expected one of {', '.join(sorted(accepted))}"
            )
    return dict(env_args)


def reconcile_traces(out: Path) -> int:
    """Make ``results.jsonl`` and ``traces.jsonl`` agree before a (re)run; return how many lines were dropped.

    A trace without a result (the runner died between the two writes) and torn lines are dropped, and only the
    last trace per episode key is kept. A result without a trace (a crash the other way round, or a run from a
    version that wrote no traces) is dropped too, so that episode runs again: a finished episode always has its
    trajectory. Runs under the results lock, so no other runner is writing ``out``.
    """
    path = out / TRACES_NAME
    with ResultStore(out) as store:
        recorded = set(store.records)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.is_file() else []
        last: dict[str, int] = {}
        for number, line in enumerate(lines):
            try:
                key = json.loads(line).get("episode_id")
            except (ValueError, AttributeError):
                continue  # a line torn by a crash
            if key in recorded:
                last[key] = number
        dropped = store.drop(recorded - set(last))
        keep = sorted(last.values())
        if len(keep) == len(lines):
            return dropped
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(lines[i] if lines[i].endswith("\n") else lines[i] + "\n" for i in keep)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    return dropped + len(lines) - len(keep)


def recording(
    env_factory: Callable[[], gym.Env],
    path: Path,
    *,
    policy: Mapping[str, Any],
    usage_provider: Callable[[], Mapping[str, int]] | None = None,
    always: bool = False,
    roles_usage_provider: Callable[[], Mapping[str, Mapping[str, int]]] | None = None,
) -> Callable[[], gym.Env]:
    """``env_factory`` whose envs are wrapped in an :class:`~sandbox.recorder.EpisodeRecorder` writing to
    ``path`` when they emit prgym events (``unwrapped.subscribe``) or ``always`` (a remote prgym env, recorded
    from its infos); other envs are returned as they are."""

    def make() -> gym.Env:
        env = env_factory()
        if not always and not callable(getattr(env.unwrapped, "subscribe", None)):
            return env
        return EpisodeRecorder(
            env, path, policy=policy, usage_provider=usage_provider, roles_usage_provider=roles_usage_provider
        )

    return make


def recorded_episode_info(outcome: EpisodeOutcome) -> dict[str, Any]:
    """The outcome's info with only the headline metrics (the full ones are in the trace)."""
    info = dict(outcome.info)
    if isinstance(info.get("metrics"), Mapping):
        info["metrics"] = {k: info["metrics"][k] for k in METRIC_KEYS if k in info["metrics"]}
    return info


async def run_tasks(
    *,
    tasks: TaskSet,
    catalog: Path | None,
    policies: list[str],
    trials: int,
    out: Path,
    concurrency: int = DEFAULT_CONCURRENCY,
    seed: int = 0,
    max_steps: int = DEFAULT_MAX_STEPS,
    timeout_s: float | None = 600.0,
    llm_config: Path | None = None,
    llm_set: list[str] | None = None,
    keep_tool_results: int = 8,
    progress: bool = True,
    supervisor: str = "rules",
    env_args: Mapping[str, Any] | None = None,
    env_urls: list[str] | None = None,
    env_token: str | None = None,
    retry_failed: bool = False,
    tasks_checksum: str | None = None,
    tasks_path: Path | None = None,
    check_endpoints: bool = True,
) -> RolloutSummary:
    """The body of ``prgym run`` (also used by ``prgym demo``); ``env_args`` are more ``ProductResearchEnv``
    keyword arguments (``web``, ``backend_kind``, ``reward``, ``plan_revisions``, ``task_mode``, ...).

    With ``env_urls`` the episodes run on those ``prgym serve`` servers instead of in this process (the task
    is sent with each reset, so the servers need only the catalog); see :mod:`harness.rollout.remote`.

    Before the first episode (:mod:`harness.rollout.preflight`): the catalog is opened once (an incompatible
    snapshot or a missing index fails here, not in every episode), each LLM endpoint is asked whether it is up
    (``check_endpoints``), and ``out/run.json`` pins the catalog, seed and ``tasks_checksum`` (default: a hash
    of the tasks) so a resumed run cannot mix two setups. ``retry_failed`` runs recorded failures again.
    """
    pool = EnvServerPool(env_urls) if env_urls else None
    if pool is None and catalog is None:
        raise ValueError("--catalog is required (or --env-url to run the episodes on env servers)")
    if pool is not None and supervisor != "rules":
        raise ValueError(
            "--supervisor: with --env-url the env servers' rule-based supervisor checks the episodes"
        )
    if pool is not None and env_args:
        raise ValueError("--env-arg: with --env-url the env servers' settings apply (see prgym serve)")
    extra = check_env_args(env_args or {})
    mode = "shopping" if all(isinstance(t, ShoppingTask) for t in tasks) else "research"
    if mode == "research" and any(isinstance(t, ShoppingTask) for t in tasks):
        raise ValueError("--tasks mixes research and shopping tasks; run them as two task sets")
    extra.setdefault("task_mode", mode)
    extra.setdefault("max_steps", max_steps)
    make_supervisor = supervisor_factory(supervisor, llm_config=llm_config, llm_set=llm_set or [])
    specs = {
        spec: policy_factory(
            spec, llm_config=llm_config, llm_set=llm_set or [], keep_tool_results=keep_tool_results
        )
        for spec in policies
    }
    try:
        snapshot_id = await _preflight(
            tasks,
            catalog if pool is None else None,
            extra,
            [spec.client.config for spec in specs.values() if spec.client is not None]
            + _supervisor_configs(supervisor, llm_config, llm_set or []),
            check_endpoints=check_endpoints,
        )
        check_run_identity(
            out,
            RunIdentity(
                catalog_snapshot_id=snapshot_id,
                seed=seed,
                tasks_checksum=tasks_checksum or text_checksum("\n".join(t.model_dump_json() for t in tasks)),
                tasks=str(tasks_path) if tasks_path is not None else None,
            ),
        )
    except BaseException:
        for spec in specs.values():
            if spec.client is not None:
                await spec.client.aclose()
        raise
    jobs = make_jobs(tasks.ids(), policies, trials)
    reconcile_traces(out)

    async def remote_episode(job: RolloutJob) -> EpisodeOutcome:
        assert pool is not None
        task = tasks.get(job.task_id).model_dump(mode="json")
        metadata = {**specs[job.policy].metadata, "supervisor": supervisor, "trial": job.trial}

        from prgym.client import RemoteEnv  # the serve extra

        async def attempt(url: str, number: int) -> EpisodeOutcome:
            policy = specs[job.policy].make()
            usage = getattr(getattr(policy, "usage", None), "snapshot", None)
            make_env = recording(
                lambda: RemoteEnv(url, token=env_token),
                out / TRACES_NAME,
                policy=metadata,
                usage_provider=usage if callable(usage) else None,
                always=True,
            )
            return await run_episode(
                make_env,
                policy,
                task,
                job.seed(seed),
                max_steps=max_steps,
                reset_options={"episode_id": job.episode_key},
            )

        outcome, url, attempts = await pool.run(attempt)
        info = {**recorded_episode_info(outcome), "env_url": url, "attempts": attempts}
        return outcome.model_copy(update={"info": info})

    async def episode(job: RolloutJob) -> EpisodeOutcome:
        if pool is not None:
            return await remote_episode(job)
        policy = specs[job.policy].make()
        episode_supervisor = make_supervisor()
        metadata = {**specs[job.policy].metadata, "supervisor": supervisor, "trial": job.trial}
        if isinstance(episode_supervisor, LLMSupervisor):
            metadata["models"] = {
                **metadata.get("models", {}),
                "supervisor": model_of(supervisor, flag="--supervisor"),
            }
        usage = getattr(getattr(policy, "usage", None), "snapshot", None)
        progress = episode_progress()
        if progress is not None and isinstance(episode_supervisor, LLMSupervisor):
            progress.usage_sources["supervisor"] = episode_supervisor.usage_snapshot

        make_env = recording(
            lambda: ProductResearchEnv(catalog, tasks=tasks, supervisor=episode_supervisor, **extra),
            out / TRACES_NAME,
            policy=metadata,
            usage_provider=usage if callable(usage) else None,
            roles_usage_provider=progress.usage_by_role if progress is not None else None,
        )

        try:
            outcome = await run_episode(
                make_env, policy, job.task_id, job.seed(seed), reset_options={"episode_id": job.episode_key}
            )
        finally:
            if episode_supervisor is not None:
                await asyncio.to_thread(episode_supervisor.close)
        info = recorded_episode_info(outcome)
        if isinstance(episode_supervisor, LLMSupervisor):
            called = [r for r in episode_supervisor.records if r.llm_called]
            info["llm_supervisor"] = {
                "calls": len(called),
                "rejections": sum(1 for r in called if not r.passed),
                "unusable": sum(1 for r in called if r.note),
            }
        return outcome.model_copy(update={"info": info})

    try:
        return await run_rollouts(
            jobs,
            episode,
            out,
            concurrency=concurrency,
            timeout_s=timeout_s,
            base_seed=seed,
            retry_failed=retry_failed,
            progress=progress,
        )
    finally:
        for spec in specs.values():
            if spec.client is not None:
                await spec.client.aclose()


def _supervisor_configs(supervisor: str, llm_config: Path | None, llm_set: list[str]) -> list[LLMConfig]:
    model = model_of(supervisor, flag="--supervisor", alternatives=("rules",))
    if model is None:
        return []
    return [load_llm_config("supervisor", file=llm_config, overrides=[*llm_set, f"model={model}"])]


async def _preflight(
    tasks: TaskSet,
    catalog: Path | None,
    env_args: Mapping[str, Any],
    configs: list[LLMConfig],
    *,
    check_endpoints: bool,
) -> str | None:
    """Open the catalog and the env once, and check each LLM endpoint; returns the catalog's snapshot id."""
    snapshot_id = None
    if catalog is not None:
        snapshot_id = Snapshot(catalog).snapshot_id  # an incompatible or damaged snapshot fails here

        def probe() -> None:  # the env as every episode builds it (backend kind, dense index, web corpus)
            ProductResearchEnv(catalog, tasks=tasks, **env_args).close()

        await asyncio.to_thread(probe)
        made_on = Counter(t.meta.get("snapshot") for t in tasks if isinstance(getattr(t, "meta", None), dict))
        others = {k: n for k, n in made_on.items() if k and k != snapshot_id}
        if others:
            Console(stderr=True).print(
                f"warning: {sum(others.values())} of {len(tasks)} tasks were generated on catalog "
                f"{', '.join(sorted(others))}, not on {snapshot_id} ({catalog}); their constraints and targets "
                "may not hold here",
                soft_wrap=True,
            )
    if check_endpoints:
        seen: set[str] = set()
        for config in configs:
            if config.base_url not in seen:
                seen.add(config.base_url)
                await check_llm_endpoint(config)
    return snapshot_id


def metrics_table(out: Path) -> tuple[Table, dict[str, dict[str, float | None]]]:
    """Per-policy means of the episode metrics in ``out/results.jsonl``."""
    records = [r for r in read_records(out) if r.status == "completed"]
    table = Table(title="episode metrics (means; EPC ok: cited products meeting every constraint)")
    columns = ("policy", "n", "accepted", "reward", "EPC", "EPC ok", "grounding", "constr.", "r_pro")
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right")
    keys = (
        "acceptance_rate",
        "mean_reward",
        "effective_product_count",
        "constraint_satisfying_count",
        "grounding",
        "constraint_satisfaction",
        "r_pro",
    )
    figures: dict[str, dict[str, float | None]] = {}
    for policy in sorted({r.policy for r in records}):
        mine = [r for r in records if r.policy == policy]
        figures[policy] = {
            "episodes": len(mine),
            "acceptance_rate": _mean([bool(r.info.get("accepted")) for r in mine]),
            "mean_reward": _mean([r.reward for r in mine if r.reward is not None]),
            "effective_product_count": _metric(mine, "effective_product_count"),
            "constraint_satisfying_count": _metric(mine, "constraint_satisfying_count"),
            "grounding": _metric(mine, "grounding_accuracy"),
            "constraint_satisfaction": _metric(mine, "constraint_satisfaction"),
            "r_pro": _metric(mine, "r_pro"),
        }
        table.add_row(policy, str(len(mine)), *(_fmt(figures[policy][k]) for k in keys))
    return table, figures


def _mean(values: list[Any]) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return sum(numbers) / len(numbers) if numbers else None


def _metric(records: list[Any], key: str) -> float | None:
    return _mean([r.info.get("metrics", {}).get(key) for r in records])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
