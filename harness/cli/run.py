"""``prgym run``: tasks x policies x trials on a catalog, through the rollout runner, with episode metrics.

Builds on :mod:`harness.rollout` (durable, resumable ``results.jsonl``, concurrency, timeouts). What it adds:
tasks from a task-set JSONL (``sandbox.tasks`` format, or ShoppingBench files) run in the prgym env over
``--catalog``; policies ``scripted`` (the baseline) and ``openai:MODEL`` (the research agent with context
trimming); and each episode's metrics (Effective Product Count, grounding, constraint satisfaction, acceptance,
``r_pro``) kept in its record and summarised in a table after the runner's own summary; ``--supervisor
rules|openai:MODEL`` (the rule-based or the LLM supervisor, one per episode); and the raw multi-agent trace of
every episode in ``OUT/traces.jsonl`` (``sandbox.recorder.EpisodeRecorder``; the input of ``prgym distill``).

Traces and resume: a trace is appended when its episode ends, its record in ``results.jsonl`` just after. Before
each run, :func:`reconcile_traces` keeps only traces whose ``episode_id`` (the runner's episode key) has a
record, the last one per key, so a crash between the two writes never leaves a duplicate or an orphan once the
episode has run again.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from harness.llm.client import LLMClient
from harness.llm.config import ConfigError, load_llm_config
from harness.policies.context import TrimStrategy
from harness.policies.openai_agent import ResearchAgentPolicy
from harness.policies.scripted import ScriptedPolicy
from harness.rollout.episode import Policy, run_episode
from harness.rollout.jobs import RolloutJob, make_jobs
from harness.rollout.records import EpisodeOutcome
from harness.rollout.remote import EnvServerPool
from harness.rollout.runner import run_rollouts
from harness.rollout.store import ResultStore, read_records
from harness.rollout.summary import RolloutSummary
from harness.supervision import LLMSupervisor
from prgym.errors import SessionLostError
from sandbox.env import ProductResearchEnv
from sandbox.recorder import EpisodeRecorder
from sandbox.tasks.models import ShoppingTask
from sandbox.tasks.taskset import TaskSet, load_tasks

console = Console()
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


class MetricsTap:
    """Wraps one (recorded) env for one episode: keeps the last step's ``metrics`` / ``accepted`` (run_episode
    returns only rewards), names the trace after the episode key, and hands the recorder the token usage of
    each LLM turn before the step it paid for. ``areset``/``astep`` keep the env off the event loop."""

    def __init__(self, env: EpisodeRecorder, *, episode_id: str, policy: Policy | None = None) -> None:
        self.env = env
        self.episode_id = episode_id
        self.policy = policy
        self.final: dict[str, Any] = {}
        self._turns_noted = 0
        self.lost = False

    async def areset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = {**(options or {}), "episode_id": self.episode_id}
        return await self._remote(asyncio.to_thread(self.env.reset, seed=seed, options=options))

    async def _remote(self, work: Any) -> Any:
        """A remote env that lost its session: the attempt is over and its partial trace must not be kept."""
        try:
            return await work
        except SessionLostError:
            self.lost = True
            raise

    async def astep(self, action: Any):
        self._note_usage()
        result = await self._remote(asyncio.to_thread(self.env.step, action))
        info = result[4]
        if "metrics" in info:
            self.final = {
                "metrics": {k: info["metrics"].get(k) for k in METRIC_KEYS if k in info["metrics"]},
                "accepted": bool(info.get("accepted")),
                "tool_calls": info.get("tool_calls"),
            }
        return result

    def _note_usage(self) -> None:
        results = getattr(self.policy, "results", None)
        if not isinstance(results, list):
            return
        for result in results[self._turns_noted :]:
            if getattr(result, "usage", None) is not None:
                self.env.note_usage(result.usage.model_dump())
        self._turns_noted = len(results)

    def reset(self, **kwargs: Any):
        return self.env.reset(**kwargs)

    def step(self, action: Any):
        return self.env.step(action)

    def close(self) -> None:
        if self.lost:
            self.env.discard()
        self.env.close()


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
    if spec == "scripted":
        return PolicySpec(ScriptedPolicy, None, {"teacher": "scripted", "policy": "scripted"})
    if spec.startswith("openai:") and spec[len("openai:") :]:
        config = load_llm_config("agent", file=llm_config, overrides=[*llm_set, f"model={spec[7:]}"])
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
    raise ValueError(f"--policy {spec!r}: expected scripted or openai:MODEL")


def supervisor_factory(
    spec: str, *, llm_config: Path | None, llm_set: list[str]
) -> Callable[[], LLMSupervisor | None]:
    """``rules`` (the env's rule-based supervisor) or ``openai:MODEL`` (a fresh LLMSupervisor per episode, role
    ``supervisor``; ``--llm-set`` applies to it too)."""
    if spec == "rules":
        return lambda: None
    if spec.startswith("openai:") and spec[len("openai:") :]:
        config = load_llm_config("supervisor", file=llm_config, overrides=[*llm_set, f"model={spec[7:]}"])
        return lambda: LLMSupervisor(config)
    raise ValueError(f"--supervisor {spec!r}: expected rules or openai:MODEL")


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


async def run_tasks(
    *,
    tasks: TaskSet,
    catalog: Path | None,
    policies: list[str],
    trials: int,
    out: Path,
    concurrency: int = 4,
    seed: int = 0,
    max_steps: int = 40,
    timeout_s: float | None = 600.0,
    llm_config: Path | None = None,
    llm_set: list[str] | None = None,
    keep_tool_results: int = 8,
    progress: bool = True,
    supervisor: str = "rules",
    env_urls: list[str] | None = None,
    env_token: str | None = None,
) -> RolloutSummary:
    """The body of ``prgym run`` (also used by ``prgym demo``).

    With ``env_urls`` the episodes run on those ``prgym serve`` servers instead of in this process (the task
    is sent with each reset, so the servers need only the catalog); see :mod:`harness.rollout.remote`.
    """
    pool = EnvServerPool(env_urls) if env_urls else None
    if pool is None and catalog is None:
        raise ValueError("--catalog is required (or --env-url to run the episodes on env servers)")
    if pool is not None and supervisor != "rules":
        raise ValueError(
            "--supervisor: with --env-url the env servers' rule-based supervisor checks the episodes"
        )
    mode = "shopping" if all(isinstance(t, ShoppingTask) for t in tasks) else "research"
    if mode == "research" and any(isinstance(t, ShoppingTask) for t in tasks):
        raise ValueError("--tasks mixes research and shopping tasks; run them as two task sets")
    make_supervisor = supervisor_factory(supervisor, llm_config=llm_config, llm_set=llm_set or [])
    specs: dict[str, PolicySpec] = {}
    for spec in policies:
        specs[spec] = policy_factory(
            spec, llm_config=llm_config, llm_set=llm_set or [], keep_tool_results=keep_tool_results
        )
    jobs = make_jobs(tasks.ids(), policies, trials)
    reconcile_traces(out)

    async def remote_episode(job: RolloutJob) -> EpisodeOutcome:
        assert pool is not None
        task = tasks.get(job.task_id).model_dump(mode="json")
        metadata = {**specs[job.policy].metadata, "supervisor": supervisor, "trial": job.trial}
        tap: list[MetricsTap] = []

        from prgym.client import RemoteEnv  # the serve extra

        async def attempt(url: str, number: int) -> EpisodeOutcome:
            tap.clear()
            policy = specs[job.policy].make()
            usage = getattr(getattr(policy, "usage", None), "snapshot", None)

            def make_env() -> MetricsTap:
                env = RemoteEnv(url, token=env_token)
                recorder = EpisodeRecorder(
                    env, out / TRACES_NAME, policy=metadata, usage_provider=usage if callable(usage) else None
                )
                tap.append(MetricsTap(recorder, episode_id=job.episode_key, policy=policy))
                return tap[-1]

            return await run_episode(make_env, policy, task, job.seed(seed), max_steps=max_steps)

        outcome, url, attempts = await pool.run(attempt)
        info = {**outcome.info, **tap[-1].final, "env_url": url, "attempts": attempts}
        return outcome.model_copy(update={"info": info})

    async def episode(job: RolloutJob) -> EpisodeOutcome:
        if pool is not None:
            return await remote_episode(job)
        tap: list[MetricsTap] = []
        policy = specs[job.policy].make()
        episode_supervisor = make_supervisor()
        metadata = {**specs[job.policy].metadata, "supervisor": supervisor, "trial": job.trial}
        if isinstance(episode_supervisor, LLMSupervisor):
            metadata["models"] = {**metadata.get("models", {}), "supervisor": supervisor[len("openai:") :]}
        usage = getattr(getattr(policy, "usage", None), "snapshot", None)

        def make_env() -> MetricsTap:
            env = ProductResearchEnv(
                catalog, task_mode=mode, tasks=tasks, max_steps=max_steps, supervisor=episode_supervisor
            )
            recorder = EpisodeRecorder(
                env, out / TRACES_NAME, policy=metadata, usage_provider=usage if callable(usage) else None
            )
            tap.append(MetricsTap(recorder, episode_id=job.episode_key, policy=policy))
            return tap[-1]

        try:
            outcome = await run_episode(make_env, policy, job.task_id, job.seed(seed))
        finally:
            if episode_supervisor is not None:
                await asyncio.to_thread(episode_supervisor.close)
        info = dict(outcome.info)
        info.update(tap[0].final)
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
            progress=progress,
        )
    finally:
        for spec in specs.values():
            if spec.client is not None:
                await spec.client.aclose()


def metrics_table(out: Path) -> tuple[Table, dict[str, dict[str, float | None]]]:
    """Per-policy means of the episode metrics in ``out/results.jsonl``."""
    records = [r for r in read_records(out) if r.status == "completed"]
    table = Table(title="episode metrics (means; EPC ok: cited products meeting every constraint)")
    columns = ("policy", "n", "accepted", "reward", "EPC", "EPC ok", "grounding", "constr.", "r_pro")
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right")
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
        f = figures[policy]
        table.add_row(
            policy,
            str(len(mine)),
            *(
                _fmt(f[k])
                for k in (
                    "acceptance_rate",
                    "mean_reward",
                    "effective_product_count",
                    "constraint_satisfying_count",
                    "grounding",
                    "constraint_satisfaction",
                    "r_pro",
                )
            ),
        )
    return table, figures


def _mean(values: list[Any]) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return sum(numbers) / len(numbers) if numbers else None


def _metric(records: list[Any], key: str) -> float | None:
    return _mean([r.info.get("metrics", {}).get(key) for r in records])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def run(
    tasks: Path = typer.Option(
        ..., "--tasks", "-t", help="Task-set JSONL (prgym tasks generate) or ShoppingBench file."
    ),
    catalog: Path = typer.Option(
        None, "--catalog", help="Catalog snapshot directory (not needed with --env-url)."
    ),
    policy: list[str] = typer.Option(
        ["scripted"], "--policy", "-p", help="scripted | openai:MODEL (repeatable)."
    ),
    env_url: str = typer.Option(
        None,
        "--env-url",
        help="Run the episodes on prgym serve servers URL[,URL...] (spread, retried elsewhere if one drops).",
    ),
    env_token: str = typer.Option(
        None, "--env-token", help="Bearer token of the env servers (default: $PRGYM_SERVER_TOKEN)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Run directory (results.jsonl, summary.json, metrics.json)."
    ),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1),
    trials: int = typer.Option(1, "--trials", "-k", min=1),
    seed: int = typer.Option(0, "--seed"),
    max_steps: int = typer.Option(40, "--max-steps", min=1),
    timeout: float = typer.Option(600.0, "--timeout", help="Per-episode timeout in seconds (0: none)."),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the first N tasks (0: all)."),
    llm_config: Path = typer.Option(None, "--llm-config", help="TOML/JSON with per-role LLM settings."),
    llm_set: list[str] = typer.Option(None, "--llm-set", help="LLM setting key=value (repeatable)."),
    keep_tool_results: int = typer.Option(8, "--keep-tool-results", min=0, help="Tool results kept in full."),
    supervisor: str = typer.Option(
        "rules", "--supervisor", help="rules (rule-based) or openai:MODEL (LLM supervisor, role supervisor)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Run every task x policy x trial not yet in OUT/results.jsonl and print reward and research metrics."""
    try:
        taskset = load_tasks(tasks)
        if limit:
            taskset = TaskSet(list(taskset)[:limit])
        urls = [u for u in (env_url or "").split(",") if u.strip()] or None
        if urls is None and catalog is None:
            raise ValueError("--catalog is required (or --env-url URL[,URL...] to run on env servers)")
        if catalog is not None and not (catalog / "manifest.json").is_file():
            raise ValueError(f"--catalog {catalog}: not a snapshot directory (no manifest.json)")
        summary = asyncio.run(
            run_tasks(
                tasks=taskset, catalog=catalog, policies=list(policy), trials=trials, out=out,
                concurrency=concurrency, seed=seed, max_steps=max_steps, timeout_s=timeout or None,
                llm_config=llm_config, llm_set=list(llm_set or []), keep_tool_results=keep_tool_results,
                progress=progress, supervisor=supervisor, env_urls=urls,
                env_token=env_token or os.environ.get("PRGYM_SERVER_TOKEN") or None,
            )
        )  # fmt: skip
    except (ValueError, ConfigError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    summary.print(console)
    table, figures = metrics_table(out)
    console.print(table)
    (out / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    console.print(f"results: {out / 'results.jsonl'}", soft_wrap=True)
    console.print(f"traces: {out / TRACES_NAME}", soft_wrap=True)
    typer.echo(json.dumps({"policies": figures}))
