"""``prgym run``: tasks x policies x trials on a catalog, through the rollout runner, with episode metrics.

Builds on :mod:`harness.rollout` (durable, resumable ``results.jsonl``, concurrency, timeouts). What it adds:
tasks from a task-set JSONL (``sandbox.tasks`` format, or ShoppingBench files) run in the prgym env over
``--catalog``; policies ``scripted`` (the baseline) and ``openai:MODEL`` (the research agent with context
trimming); and each episode's metrics (Effective Product Count, grounding, constraint satisfaction, acceptance,
``r_pro``) kept in its record and summarised in a table after the runner's own summary.
"""

from __future__ import annotations

import asyncio
import json
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
from harness.rollout.runner import run_rollouts
from harness.rollout.store import read_records
from harness.rollout.summary import RolloutSummary
from sandbox.env import ProductResearchEnv
from sandbox.tasks.models import ShoppingTask
from sandbox.tasks.taskset import TaskSet, load_tasks

console = Console()
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
    """Wraps one env for one episode and keeps the last step's ``metrics`` / ``accepted`` (run_episode returns
    only rewards); exposes ``areset``/``astep`` so the runner still drives the env off the event loop."""

    def __init__(self, env: ProductResearchEnv) -> None:
        self.env = env
        self.final: dict[str, Any] = {}

    async def areset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return await self.env.areset(seed=seed, options=options)

    async def astep(self, action: Any):
        result = await self.env.astep(action)
        info = result[4]
        if "metrics" in info:
            self.final = {
                "metrics": {k: info["metrics"].get(k) for k in METRIC_KEYS if k in info["metrics"]},
                "accepted": bool(info.get("accepted")),
                "tool_calls": info.get("tool_calls"),
            }
        return result

    def reset(self, **kwargs: Any):
        return self.env.reset(**kwargs)

    def step(self, action: Any):
        return self.env.step(action)

    def close(self) -> None:
        self.env.close()


def policy_factory(
    spec: str, *, llm_config: Path | None, llm_set: list[str], keep_tool_results: int
) -> tuple[Callable[[], Policy], LLMClient | None]:
    """``scripted`` or ``openai:MODEL`` -> a per-episode policy factory (and the shared client to close)."""
    if spec == "scripted":
        return ScriptedPolicy, None
    if spec.startswith("openai:") and spec[len("openai:") :]:
        config = load_llm_config("agent", file=llm_config, overrides=[*llm_set, f"model={spec[7:]}"])
        client = LLMClient(config)
        trim = TrimStrategy(keep_last_tool_results=keep_tool_results)
        return (lambda: ResearchAgentPolicy(client.session(), trim=trim)), client
    raise ValueError(f"--policy {spec!r}: expected scripted or openai:MODEL")


async def run_tasks(
    *,
    tasks: TaskSet,
    catalog: Path,
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
    supervisor: Any = None,
) -> RolloutSummary:
    """The body of ``prgym run`` (also used by ``prgym demo``)."""
    mode = "shopping" if all(isinstance(t, ShoppingTask) for t in tasks) else "research"
    if mode == "research" and any(isinstance(t, ShoppingTask) for t in tasks):
        raise ValueError("--tasks mixes research and shopping tasks; run them as two task sets")
    factories: dict[str, Callable[[], Policy]] = {}
    clients: list[LLMClient] = []
    for spec in policies:
        make, client = policy_factory(
            spec, llm_config=llm_config, llm_set=llm_set or [], keep_tool_results=keep_tool_results
        )
        factories[spec] = make
        if client is not None:
            clients.append(client)
    jobs = make_jobs(tasks.ids(), policies, trials)

    async def episode(job: RolloutJob) -> EpisodeOutcome:
        tap: list[MetricsTap] = []

        def make_env() -> MetricsTap:
            env = ProductResearchEnv(
                catalog, task_mode=mode, tasks=tasks, max_steps=max_steps, supervisor=supervisor
            )
            tap.append(MetricsTap(env))
            return tap[-1]

        outcome = await run_episode(make_env, factories[job.policy](), job.task_id, job.seed(seed))
        info = dict(outcome.info)
        info.update(tap[0].final)
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
        for client in clients:
            await client.aclose()


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
    catalog: Path = typer.Option(..., "--catalog", help="Catalog snapshot directory."),
    policy: list[str] = typer.Option(
        ["scripted"], "--policy", "-p", help="scripted | openai:MODEL (repeatable)."
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
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Run every task x policy x trial not yet in OUT/results.jsonl and print reward and research metrics."""
    try:
        taskset = load_tasks(tasks)
        if limit:
            taskset = TaskSet(list(taskset)[:limit])
        if not (catalog / "manifest.json").is_file():
            raise ValueError(f"--catalog {catalog}: not a snapshot directory (no manifest.json)")
        summary = asyncio.run(
            run_tasks(
                tasks=taskset, catalog=catalog, policies=list(policy), trials=trials, out=out,
                concurrency=concurrency, seed=seed, max_steps=max_steps, timeout_s=timeout or None,
                llm_config=llm_config, llm_set=list(llm_set or []), keep_tool_results=keep_tool_results,
                progress=progress,
            )
        )  # fmt: skip
    except (ValueError, ConfigError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    summary.print(console)
    table, figures = metrics_table(out)
    console.print(table)
    (out / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    console.print(f"results: {out / 'results.jsonl'}")
    typer.echo(json.dumps({"policies": figures}))
