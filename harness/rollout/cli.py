"""``prgym run``: roll out tasks x policies x trials into ``<out>/results.jsonl`` (resumable).

Mounted by the main CLI as ``app.command("run")(harness.rollout.cli.run)``.

Policies: ``openai:MODEL`` (an OpenAI-compatible endpoint; endpoint, key and sampling from ``--llm-config``,
``PRGYM_<ROLE>_*`` variables and ``--llm-set``), ``scripted`` (the scripted baseline) or
``import:module:factory`` (``factory(job) -> Policy``). The env: ``--env module:callable`` (a zero-argument
callable returning a Gymnasium env) or ``--env gym:ID`` (``gymnasium.make(ID)``). A prgym env's episodes are
recorded into ``<out>/traces.jsonl`` (the input of ``prgym distill``), through the same code as ``prgym run``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium
import typer
from rich.console import Console

from harness.flags import concurrency_option, deprecation_note, max_steps_option, progress_option
from harness.llm.client import LLMClient
from harness.llm.config import ConfigError, load_llm_config
from harness.llm.limits import EndpointLimits
from harness.llm.spec import PREFIX, model_of
from harness.rollout.episode import Policy, run_episode
from harness.rollout.jobs import RolloutJob, make_jobs
from harness.rollout.policy import OpenAIChatPolicy
from harness.rollout.prgym import TRACES_NAME, reconcile_traces, recorded_episode_info, recording
from harness.rollout.records import EpisodeOutcome
from harness.rollout.runner import run_rollouts
from harness.rollout.summary import RolloutSummary
from harness.run_config import config_option
from sandbox.errors import UserError

#: Where the env and the scripted baseline live; overridable with PRGYM_ENV_FACTORY / PRGYM_SCRIPTED_POLICY.
DEFAULT_ENV_FACTORY = "gym:sandbox.env:prgym/ProductResearch-v0"
DEFAULT_SCRIPTED_POLICY = "harness.policies.scripted:make_policy"

console = Console()
err_console = Console(stderr=True)


class SetupError(UserError, ValueError):
    """A CLI argument cannot be turned into tasks, an env or a policy; the message says which and why."""


def load_task_ids(spec: str, flag: str = "--tasks") -> list[str]:
    """``--tasks``: a file (one id per line, ``#`` comments; or JSONL with ``task_id``/``id``), else a
    comma-separated list of ids."""
    path = Path(spec)
    if path.is_file():
        ids = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if text.startswith("{"):
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise SetupError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
                task_id = row.get("task_id", row.get("id"))
                if not isinstance(task_id, (str, int)):
                    raise SetupError(f"{path}:{number}: expected a 'task_id' (or 'id') field")
                ids.append(str(task_id))
            else:
                ids.append(text)
    else:
        ids = [part.strip() for part in spec.split(",") if part.strip()]
    if not ids:
        raise SetupError(f"{flag} {spec!r}: no task ids (expected a file or a comma-separated list)")
    return ids


#: Suffixes that make a ``--tasks`` value a file name (a missing file is then an error, never a task id).
_TASK_FILE_SUFFIXES = (".txt", ".jsonl", ".json", ".csv")


def resolve_task_ids(tasks: Path | None, task_ids: str | None) -> list[str]:
    """The ids of ``--tasks FILE`` or ``--task-ids a,b,c`` (exactly one). ``--tasks a,b,c`` (no such file) is the
    old spelling of ``--task-ids``: it still works, with a deprecation note."""
    if (tasks is None) == (task_ids is None):
        raise SetupError("give one of --tasks FILE or --task-ids a,b,c")
    if task_ids is not None:
        return load_task_ids(task_ids, flag="--task-ids")
    text = str(tasks)
    if Path(text).is_file():
        return load_task_ids(text)
    if os.sep in text or text.lower().endswith(_TASK_FILE_SUFFIXES):
        raise SetupError(f"--tasks {text}: no such file (give ids as --task-ids a,b,c)")
    deprecation_note("--tasks a,b,c", "--task-ids a,b,c")
    return load_task_ids(text, flag="--task-ids")


def import_object(spec: str, what: str) -> Any:
    """``module.path:attribute`` -> the attribute."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SetupError(f"{what} {spec!r}: expected module.path:name")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SetupError(f"{what} {spec!r}: cannot import {module_name} ({exc})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SetupError(f"{what} {spec!r}: {module_name} has no attribute {attr!r}") from None


def parse_env_args(items: list[str]) -> dict[str, Any]:
    """``--env-arg key=value`` pairs; values are JSON when they parse as JSON (numbers, true, lists), else
    strings (paths, names)."""
    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SetupError(f"--env-arg {item!r}: expected key=value (e.g. snapshot=snapshots/combined)")
        try:
            kwargs[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            kwargs[key.strip()] = raw
    return kwargs


def resolve_env_factory(spec: str, kwargs: dict[str, Any] | None = None) -> Callable[[], gymnasium.Env]:
    """``gym:ID`` (``gymnasium.make(ID, **kwargs)``; ``gym:module:ID`` imports the module first) or
    ``module:callable`` (called with ``kwargs``)."""
    kwargs = dict(kwargs or {})
    if spec.startswith("gym:"):
        module_name, sep, env_id = spec[len("gym:") :].rpartition(":")
        if sep:
            try:
                importlib.import_module(module_name)  # registers the id
            except ImportError as exc:
                raise SetupError(f"--env {spec!r}: cannot import {module_name} ({exc})") from None
        try:
            gymnasium.spec(env_id)
        except gymnasium.error.Error as exc:
            raise SetupError(f"--env {spec!r}: {exc}") from None
        return lambda: gymnasium.make(env_id, **kwargs)
    factory = import_object(spec, "--env")
    if not callable(factory):
        raise SetupError(f"--env {spec!r} is not callable")
    return lambda: factory(**kwargs)


def _is_prgym(spec: str) -> bool:
    """Whether ``--env gym:...`` names a prgym env id (its ``max_steps`` is then the episode bound)."""
    if not spec.startswith("gym:"):
        return False
    env_id = spec[len("gym:") :].rpartition(":")[2]
    try:
        return "ProductResearchEnv" in str(gymnasium.spec(env_id).entry_point)
    except gymnasium.error.Error:
        return False


class PolicySource:
    """Makes one policy per episode for a ``--policy`` spec; ``endpoint`` is its base URL (if any)."""

    def __init__(self, spec: str, make: Callable[[RolloutJob], Policy], endpoint: str | None = None) -> None:
        self.spec = spec
        self.make = make
        self.endpoint = endpoint
        self.client: LLMClient | None = None

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()


def resolve_policy(
    spec: str,
    *,
    role: str,
    llm_config: Path | None,
    llm_set: list[str],
    limits: EndpointLimits,
) -> PolicySource:
    if spec.startswith(PREFIX):
        try:
            model = model_of(spec, flag="--policy")
        except ValueError as exc:
            raise SetupError(str(exc)) from None
        overrides = [*llm_set, f"model={model}"]
        config = load_llm_config(role, file=llm_config, overrides=overrides)
        client = LLMClient(config, limits=limits)
        source = PolicySource(spec, lambda job: OpenAIChatPolicy(client.session()), endpoint=config.base_url)
        source.client = client
        return source
    if spec == "scripted":
        factory = import_object(
            os.environ.get("PRGYM_SCRIPTED_POLICY", DEFAULT_SCRIPTED_POLICY), "scripted policy"
        )
        return PolicySource(spec, factory)
    if spec.startswith("import:"):
        return PolicySource(spec, import_object(spec[len("import:") :], "--policy"))
    raise SetupError(f"--policy {spec!r}: expected scripted, openai:MODEL or import:module:factory")


async def run_command(
    *,
    task_ids: list[str],
    policies: list[str],
    trials: int,
    out: Path,
    concurrency: int,
    timeout_s: float | None,
    max_steps: int | None,
    seed: int,
    env_spec: str,
    env_args: dict[str, Any] | None = None,
    role: str,
    llm_config: Path | None,
    llm_set: list[str],
    endpoint_concurrency: int | None,
    retry_failed: bool,
    progress: bool,
    offload_env: bool,
) -> RolloutSummary:
    """The body of ``prgym run`` (async so tests can call it without a subprocess)."""
    env_args = dict(env_args or {})
    if max_steps is not None and _is_prgym(env_spec):
        env_args.setdefault("max_steps", max_steps)  # one truncation: the env's own, with the terminal reward
    env_factory = resolve_env_factory(env_spec, env_args)
    limits = EndpointLimits()
    sources = {
        spec: resolve_policy(spec, role=role, llm_config=llm_config, llm_set=llm_set, limits=limits)
        for spec in policies
    }
    jobs = make_jobs(task_ids, policies, trials)

    traces = Path(out) / TRACES_NAME
    if traces.is_file():
        reconcile_traces(Path(out))

    async def episode(job: RolloutJob) -> EpisodeOutcome:
        policy = sources[job.policy].make(job)
        usage = getattr(getattr(policy, "usage", None), "snapshot", None)
        metadata = {"teacher": job.policy, "policy": job.policy, "trial": job.trial}
        make_env = recording(
            env_factory, traces, policy=metadata, usage_provider=usage if callable(usage) else None
        )
        outcome = await run_episode(
            make_env,
            policy,
            job.task_id,
            job.seed(seed),
            max_steps=max_steps,
            offload_env=offload_env,
            reset_options={"episode_id": job.episode_key},
        )
        return outcome.model_copy(update={"info": recorded_episode_info(outcome)})

    endpoint_limits = {}
    if endpoint_concurrency is not None:
        endpoint_limits = {s.endpoint: endpoint_concurrency for s in sources.values() if s.endpoint}
    try:
        return await run_rollouts(
            jobs,
            episode,
            out,
            concurrency=concurrency,
            endpoint_of=lambda job: sources[job.policy].endpoint,
            per_endpoint_limits=endpoint_limits,
            timeout_s=timeout_s,
            base_seed=seed,
            retry_failed=retry_failed,
            progress=progress,
        )
    finally:
        for source in sources.values():
            await source.aclose()


def run(
    tasks: Path = typer.Option(
        None, "--tasks", "-t", help="Task file: one id per line (# comments), or JSONL with task_id (or id)."
    ),
    task_ids: str = typer.Option(None, "--task-ids", help="Task ids a,b,c (instead of --tasks)."),
    policy: list[str] = typer.Option(
        ..., "--policy", "-p", help="scripted | openai:MODEL | import:module:factory (repeatable)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory (results.jsonl, summary.json)."),
    concurrency: int = concurrency_option("Episodes in flight at once."),
    trials: int = typer.Option(1, "--trials", "-k", min=1, help="Trials per task and policy."),
    timeout: float = typer.Option(600.0, "--timeout", help="Per-episode timeout in seconds (0: none)."),
    max_steps: int = max_steps_option(),
    seed: int = typer.Option(
        0, "--seed", help="Base seed; episode seeds derive from it, the task and trial."
    ),
    env: str = typer.Option(
        None,
        "--env",
        help=f"module:callable or gym:ID (default: $PRGYM_ENV_FACTORY or {DEFAULT_ENV_FACTORY}).",
    ),
    env_arg: list[str] = typer.Option(
        None,
        "--env-arg",
        help="Env keyword argument key=value, e.g. snapshot=snapshots/combined (repeatable).",
    ),
    llm_config: Path = typer.Option(None, "--llm-config", help="TOML/JSON file with per-role LLM settings."),
    role: str = typer.Option("agent", "--role", help="Role whose LLM settings openai: policies use."),
    llm_set: list[str] = typer.Option(None, "--llm-set", help="LLM setting override key=value (repeatable)."),
    endpoint_concurrency: int = typer.Option(
        None,
        "--endpoint-concurrency",
        min=1,
        help="Episodes in flight per LLM endpoint (default: no extra cap).",
    ),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Rerun episodes recorded as failed."),
    offload_env: bool = typer.Option(False, "--offload-env", help="Run env steps in worker threads."),
    progress: bool = progress_option("Show the live progress bar."),
    config: Path = config_option(),
) -> None:
    """Run every task x policy x trial not yet in OUT/results.jsonl; rerun the same command to resume."""
    try:
        summary = asyncio.run(
            run_command(
                task_ids=resolve_task_ids(tasks, task_ids),
                policies=list(policy),
                trials=trials,
                out=out,
                concurrency=concurrency,
                timeout_s=timeout or None,
                max_steps=max_steps,
                seed=seed,
                env_spec=env or os.environ.get("PRGYM_ENV_FACTORY", DEFAULT_ENV_FACTORY),
                env_args=parse_env_args(list(env_arg or [])),
                role=role,
                llm_config=llm_config,
                llm_set=list(llm_set or []),
                endpoint_concurrency=endpoint_concurrency,
                retry_failed=retry_failed,
                progress=progress,
                offload_env=offload_env,
            )
        )
    except (SetupError, ConfigError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    summary.print(console)
    console.print(f"results: {out / 'results.jsonl'}")
