"""Drive one Gymnasium episode with a chat policy.

The contract with the env (any ``gymnasium.Env`` that follows it, the prgym env included):

- ``reset(seed=..., options={"task_id": id} | {"task": obj, ...})`` returns ``(observation, info)`` with
  ``info["messages"]`` (the opening chat, OpenAI format) and ``info["tools"]`` (OpenAI function schemas);
- ``step(action)`` takes the policy's assistant message dict as is (tool calls, malformed or not: the env
  answers mistakes as observations) and returns the Gymnasium 5-tuple; ``info["messages"]``, when present, is
  the whole conversation so far and replaces the policy's view (so supervisor critiques and tool results appear
  exactly as the env wrote them); without it, ``info["new_messages"]`` (what the step added, the agent's turn
  first) extends the view; ``info["reward_components"]`` at the end is the reward breakdown, and the last step's
  ``metrics``, ``accepted``, ``tool_calls`` and ``text_tool_calls`` (the markup of calls written as text, by
  form; when present and not empty) go into the outcome's ``info``.

An env with neither in ``step`` still works: the action and the observation (as a user message) are appended.
An env (or wrapper, such as :class:`~sandbox.recorder.EpisodeRecorder`) with ``note_usage(usage)`` is told the
tokens of each LLM turn (the policy's ``results[i].usage``) before the step they paid for.

The policy is anything with ``async act(messages, tools) -> dict``.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium

from harness.rollout.records import EpisodeOutcome

#: Keys of ``reset``'s info copied into the episode record when present (scalars that identify the setup).
RESET_INFO_KEYS = ("task_id", "env_version", "catalog_snapshot", "cache_namespace")
#: Keys of the last step's info copied into the episode record when present (the episode's own figures).
FINAL_INFO_KEYS = ("metrics", "accepted", "tool_calls", "text_tool_calls")


UsageSource = Callable[[], Mapping[str, int]]


@dataclass
class EpisodeProgress:
    """What an episode has spent so far, readable when it fails or times out (the outcome never arrives then).

    :func:`run_episode` keeps ``steps`` current and registers the policy's usage as role ``agent``; code around
    it adds its other LLM roles (``usage_sources["supervisor"] = ...``). The runner reads it into a failed
    record, so a failed episode keeps the tokens and steps it cost."""

    steps: int = 0
    usage_sources: dict[str, UsageSource] = field(default_factory=dict)

    def usage_by_role(self) -> dict[str, dict[str, int]]:
        """Each role's token snapshot (a source that fails to answer is skipped: accounting never ends a run)."""
        out: dict[str, dict[str, int]] = {}
        for role, source in self.usage_sources.items():
            try:
                out[role] = {k: int(v) for k, v in source().items()}
            except Exception:  # noqa: BLE001 - a broken meter must not hide the episode's own failure
                continue
        return out


_PROGRESS: contextvars.ContextVar[EpisodeProgress | None] = contextvars.ContextVar(
    "prgym_episode_progress", default=None
)


def episode_progress() -> EpisodeProgress | None:
    """The progress of the episode running in this context (set by the runner), if any."""
    return _PROGRESS.get()


def track_progress(progress: EpisodeProgress) -> contextvars.Token[EpisodeProgress | None]:
    """Make ``progress`` the current episode's (call inside the episode's task; the runner does)."""
    return _PROGRESS.set(progress)


def sum_usage(usages: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """The roles' token snapshots added up, key by key."""
    total: dict[str, int] = {}
    for usage in usages.values():
        for key, value in usage.items():
            total[key] = total.get(key, 0) + int(value)
    return total


@runtime_checkable
class Policy(Protocol):
    """Chooses the next assistant message from the conversation and the tool schemas."""

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]: ...


class EnvContractError(ValueError):
    """The env did not return what the episode loop needs (the message names the missing piece)."""


async def run_episode(
    env_factory: Callable[[], gymnasium.Env],
    policy: Policy,
    task: str | Mapping[str, Any],
    seed: int,
    *,
    max_steps: int | None = None,
    reset_options: Mapping[str, Any] | None = None,
    offload_env: bool = False,
) -> EpisodeOutcome:
    """Reset a fresh env on ``task`` with ``seed``, let ``policy`` act until the env terminates or truncates (or
    ``max_steps`` actions, which counts as truncated), and return the outcome. The env is always closed.

    An env that defines coroutine methods ``areset``/``astep`` (the prgym env does) is driven through them, so
    its blocking work stays off the event loop the way the env intends. For other envs, ``offload_env`` runs
    ``reset``/``step`` in a worker thread (for steps that block on I/O); leave it off for envs that are not
    thread-safe. A ``gymnasium.make`` wrapper hides ``areset``/``astep``, so wrapped envs use ``step``.
    """
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps: expected >= 1, got {max_steps}")
    options: dict[str, Any] = {"task_id": task} if isinstance(task, str) else {"task": dict(task)}
    options.update(reset_options or {})

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if offload_env:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    progress = episode_progress() or EpisodeProgress()
    progress.steps = 0
    usage_snapshot = getattr(getattr(policy, "usage", None), "snapshot", None)
    if callable(usage_snapshot):
        progress.usage_sources.setdefault("agent", usage_snapshot)
    env = env_factory()
    areset, astep = getattr(env, "areset", None), getattr(env, "astep", None)
    native_async = inspect.iscoroutinefunction(areset) and inspect.iscoroutinefunction(astep)
    try:
        if native_async:
            _, info = await areset(seed=seed, options=options)  # type: ignore[misc]
        else:
            _, info = await call(env.reset, seed=seed, options=options)
        if not isinstance(info, Mapping) or not isinstance(info.get("messages"), list):
            raise EnvContractError("env.reset() must return info with a 'messages' list (the opening chat)")
        messages: list[dict[str, Any]] = list(info["messages"])
        tools: list[dict[str, Any]] = list(info.get("tools") or [])
        kept = {k: info[k] for k in RESET_INFO_KEYS if isinstance(info.get(k), (str, int, float, bool))}
        total_reward = 0.0
        components: dict[str, float] = {}
        steps = 0
        terminated = truncated = False
        note_usage = getattr(env, "note_usage", None)
        noted = 0
        final: dict[str, Any] = {}
        while True:
            action = await policy.act(list(messages), tools)
            if callable(note_usage):
                noted = _note_usage(policy, note_usage, noted)
            if native_async:
                observation, reward, terminated, truncated, step_info = await astep(action)  # type: ignore[misc]
            else:
                observation, reward, terminated, truncated, step_info = await call(env.step, action)
            steps += 1
            progress.steps = steps
            total_reward += float(reward)
            if isinstance(step_info, Mapping):
                if isinstance(step_info.get("reward_components"), Mapping):
                    components = {str(k): float(v) for k, v in step_info["reward_components"].items()}
                # an empty count (calls sent as tool_calls, the usual case) is left out of the record
                final = {
                    k: step_info[k]
                    for k in FINAL_INFO_KEYS
                    if k in step_info and (k != "text_tool_calls" or step_info[k])
                }
                if isinstance(step_info.get("messages"), list):
                    messages = list(step_info["messages"])
                elif isinstance(step_info.get("new_messages"), list):
                    messages.extend(step_info["new_messages"])
                else:
                    messages.append(action)
                    messages.append({"role": "user", "content": str(observation)})
            if terminated or truncated:
                break
            if max_steps is not None and steps >= max_steps:
                truncated = True
                break
        by_role = progress.usage_by_role()
        info = {**kept, **final}
        if len(by_role) > 1:  # the agent's usage is the record's own ``usage``; other roles are added here
            info["usage_by_role"] = by_role
        return EpisodeOutcome(
            reward=total_reward,
            reward_components=components,
            steps=steps,
            terminated=bool(terminated),
            truncated=bool(truncated),
            usage=usage_snapshot() if callable(usage_snapshot) else {},
            info=info,
        )
    finally:
        env.close()


def _note_usage(policy: Policy, note: Callable[[Mapping[str, int]], None], noted: int) -> int:
    """Hand ``note`` the usage of the policy's LLM turns not yet noted; returns how many are noted now."""
    results = getattr(policy, "results", None)
    if not isinstance(results, list):
        return noted
    for result in results[noted:]:
        usage = getattr(result, "usage", None)
        if usage is not None:
            note(usage.model_dump() if hasattr(usage, "model_dump") else dict(usage))
    return len(results)
