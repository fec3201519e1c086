"""``EpisodeRecorder``: a Gymnasium wrapper that writes each episode's raw trace as one JSON line.

It needs no change in policies or in the env: it subscribes to the env's typed events
(:meth:`~sandbox.env.core.ProductResearchEnv.subscribe`), the one channel it reads. Each event arrives once, with
its timing; the chat message it carries goes into the step record (stored once), the rest into the trace's event
list, and the product ids a tool result showed (from the env's typed results) into ``known_product_ids``. When an episode ends (terminated or truncated) its :class:`EpisodeTrace` is
appended to the file, flushed and fsynced, so a crash loses at most the episode in progress. An episode left
unfinished (``reset`` or ``close`` mid-way) is written too, with ``finished=False``, so nothing is silently lost.

Policy metadata (teacher name, models, temperature, prompt) is given at construction; token usage per turn with :meth:`EpisodeRecorder.note_usage` before the
step it paid for, or as totals from a ``usage_provider`` called when the episode ends.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gymnasium as gym

import sandbox
from sandbox.env.events import EnvEvent
from sandbox.recorder.schema import SCHEMA_VERSION, EpisodeTrace, StepRecord, TraceEvent, submitted_report

_FILE_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    """One lock per file per process, so many recorders (one per env) can append to the same file."""
    key = str(path.resolve())
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.Lock())


def append_trace(path: Path, trace: EpisodeTrace) -> None:
    """Append one trace as a JSON line; flushed and fsynced before returning."""
    line = trace.model_dump_json() + "\n"
    with _lock_for(path), open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


class EpisodeRecorder(gym.Wrapper):
    """Record every episode of ``env`` into the JSONL file ``path`` (created on the first write).

    Args:
        env: A prgym env (or a wrapper around one): its ``unwrapped`` has ``subscribe``.
        path: The traces file; episodes are appended.
        policy: Metadata of whoever acts, e.g. ``{"teacher": "qwen-t0.7", "models": {"agent": "qwen3-8b"}}``.
        usage_provider: Called at the end of each episode for the episode's token totals (e.g. the policy's
            ``usage.snapshot``); without it, totals are the sum of the per-turn usage given to ``note_usage``.
        roles_usage_provider: Called at the end of each episode for every LLM role's totals (agent, supervisor,
            ...), kept as ``usage_by_role``.
    """

    def __init__(
        self,
        env: gym.Env,
        path: str | Path,
        *,
        policy: Mapping[str, Any] | None = None,
        usage_provider: Callable[[], Mapping[str, int]] | None = None,
        roles_usage_provider: Callable[[], Mapping[str, Mapping[str, int]]] | None = None,
    ) -> None:
        super().__init__(env)
        self.roles_usage_provider = roles_usage_provider
        subscribe = getattr(env.unwrapped, "subscribe", None)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.policy: dict[str, Any] = dict(policy or {})
        self.usage_provider = usage_provider
        # A local prgym env pushes its events; a remote one (prgym.client.RemoteEnv) is read from its infos.
        self._unsubscribe: Callable[[], None] | None = (
            subscribe(self._on_event) if callable(subscribe) else None
        )
        self._from_infos = self._unsubscribe is None
        self._seen_messages = 0
        self._current: dict[str, Any] | None = None
        self._pending_usage: dict[str, int] | None = None
        self._events: list[TraceEvent] = []
        self._step: dict[str, Any] | None = None

    def note_usage(self, usage: Mapping[str, int]) -> None:
        """Tokens spent producing the next action: attached to the step that follows."""
        merged = dict(self._pending_usage or {})
        for key, value in usage.items():
            merged[key] = merged.get(key, 0) + int(value)
        self._pending_usage = merged

    # -- events -------------------------------------------------------------------------------------------------

    def _on_event(self, event: EnvEvent) -> None:
        if self._current is None and event.kind != "reset":
            return  # an episode the recorder does not follow (a step after the end)
        self._events.append(TraceEvent(index=len(self._events), **event.record()))
        if self._current is not None:
            for pid in event.product_ids:
                self._current["known"][pid] = None
        message = event.message
        if message is None or event.kind == "reset":
            return
        if event.kind == "assistant":
            self._step = {"assistant": message, "tool_messages": [], "feedback": []}
        elif self._step is not None:
            self._step["tool_messages" if event.kind == "tool_result" else "feedback"].append(message)

    # -- gym API ------------------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if self._current is not None:
            self._write(finished=False)
        options = dict(options or {})
        episode_id = str(options.pop("episode_id", "") or uuid.uuid4().hex)
        self._events = []
        self._step = None
        self._pending_usage = None
        started = time.perf_counter()
        observation, info = self._lose_on_connection_error(lambda: self.env.reset(seed=seed, options=options))
        task = info.get("task") or {}
        self._current = {
            "episode_id": episode_id,
            "task_id": str(info.get("task_id") or task.get("task_id") or ""),
            "task_kind": task.get("kind", "research"),
            "task": task,
            "seed": seed,
            "catalog_snapshot": str(info.get("catalog_snapshot") or "unknown"),
            "cache_namespace": info.get("cache_namespace"),
            "env_version": str(info.get("env_version") or "unknown"),
            "prgym_version": sandbox.__version__,
            "policy": dict(self.policy),
            "tools": list(info.get("tools") or []),
            "opening": [dict(m) for m in info.get("messages") or []],
            "steps": [],
            "known": {},
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "t0": started,
        }
        if self._from_infos:
            if "messages" not in info:
                raise ValueError(
                    "EpisodeRecorder over an env without subscribe() needs info['messages'] (info_messages=True)"
                )
            self._seen_messages = len(info["messages"])
            self._on_event(EnvEvent(step=0, kind="reset", role="user_agent"))
        return observation, info

    async def areset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """``reset`` in a worker thread, so the env's blocking work stays off the event loop."""
        return await asyncio.to_thread(self.reset, seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._current is None:
            observation, reward, terminated, truncated, info = self.env.step(action)
            return observation, float(reward), terminated, truncated, info
        started = time.perf_counter()
        self._step = None
        observation, reward, terminated, truncated, info = self._lose_on_connection_error(
            lambda: self.env.step(action)
        )
        duration_ms = (time.perf_counter() - started) * 1000
        if self._from_infos:
            self._replay(info)
        if self._step is not None:
            self._record_step(self._step, info, float(reward), duration_ms)
            self._step = None
        if terminated or truncated:
            current = self._current
            current.update(
                terminated=bool(terminated),
                truncated=bool(truncated),
                reward=float(reward),
                reward_components=dict(info.get("reward_components") or {}),
                reward_weights=dict(info.get("reward_weights") or {}),
                metrics=dict(info.get("metrics") or {}),
                final_answer=self._final_answer(info.get("final_answer")),
                accepted=bool(info.get("accepted", False)),
            )
            metrics = current["metrics"]
            unknown = set(metrics.get("unknown_ids") or [])
            for pid in metrics.get("cited_ids") or []:
                if pid not in unknown:
                    current["known"][pid] = None
            self._write(finished=True)
        return observation, reward, terminated, truncated, info

    def _lose_on_connection_error(self, call: Callable[[], Any]) -> Any:
        """A ``ConnectionError`` (a remote env lost its session, e.g. ``prgym.errors.SessionLostError``) ends
        the episode in progress without a trace: the runner runs it again, and that run writes the one trace."""
        try:
            return call()
        except ConnectionError:
            self.discard()
            raise

    def _replay(self, info: Mapping[str, Any]) -> None:
        """The step's events and messages from its info (for an env that cannot be subscribed to)."""
        messages = info.get("messages") or []
        added = list(messages[self._seen_messages :])
        self._seen_messages = len(messages)
        for data in info.get("events") or []:
            fields = {k: v for k, v in data.items() if k in EnvEvent.model_fields and k != "message"}
            self._on_event(EnvEvent.model_validate(fields))
        if added:
            self._step = {
                "assistant": added[0],
                "tool_messages": [m for m in added[1:] if m.get("role") == "tool"],
                "feedback": [m for m in added[1:] if m.get("role") != "tool"],
            }

    def _final_answer(self, answer: Any) -> dict[str, Any] | None:
        """The final answer as stored: a report is named by the step whose ``submit_report`` call holds it (the
        text is stored once, there), unless that call cannot be found."""
        if not isinstance(answer, Mapping):
            return None
        answer = dict(answer)
        if answer.get("kind") == "report" and self._current is not None:
            steps = self._current["steps"]
            step = steps[-1].step if steps else None
            if step is not None and submitted_report(steps, step) == answer.get("report"):
                answer.pop("report")
                answer["report_step"] = step
        return answer

    async def astep(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """``step`` in a worker thread (one call at a time per env)."""
        return await asyncio.to_thread(self.step, action)

    def _record_step(
        self, messages: dict[str, Any], info: Mapping[str, Any], reward: float, duration_ms: float
    ) -> None:
        assert self._current is not None
        self._current["steps"].append(
            StepRecord(
                step=int(info.get("step", len(self._current["steps"]) + 1)),
                assistant=dict(messages["assistant"]),
                tool_messages=[dict(m) for m in messages["tool_messages"]],
                feedback=[dict(m) for m in messages["feedback"]],
                verdicts=list(info.get("verdicts") or []),
                errors=list(info.get("step_errors") or []),
                phase_after=info.get("phase"),
                reward=reward,
                duration_ms=duration_ms,
                usage=self._pending_usage,
            )
        )
        self._pending_usage = None

    def _write(self, *, finished: bool) -> None:
        current = self._current
        assert current is not None
        self._current = None
        steps: list[StepRecord] = current["steps"]
        if self.usage_provider is not None:
            usage = {k: int(v) for k, v in self.usage_provider().items()}
        else:
            usage = {}
            for step in steps:
                for key, value in (step.usage or {}).items():
                    usage[key] = usage.get(key, 0) + value
        trace = EpisodeTrace(
            schema_version=SCHEMA_VERSION,
            episode_id=current["episode_id"],
            task_id=current["task_id"],
            task_kind=current["task_kind"],
            task=current["task"],
            seed=current["seed"],
            catalog_snapshot=current["catalog_snapshot"],
            cache_namespace=current["cache_namespace"],
            env_version=current["env_version"],
            prgym_version=current["prgym_version"],
            policy=current["policy"],
            tools=current["tools"],
            opening=current["opening"],
            steps=steps,
            events=self._events,
            known_product_ids=sorted(current["known"]),
            finished=finished,
            terminated=current.get("terminated", False),
            truncated=current.get("truncated", False),
            accepted=current.get("accepted", False),
            reward=current.get("reward"),
            reward_components=current.get("reward_components", {}),
            reward_weights=current.get("reward_weights", {}),
            metrics=current.get("metrics", {}),
            final_answer=current.get("final_answer"),
            usage=usage,
            usage_by_role=self._roles_usage(),
            started_at=current["started_at"],
            duration_s=time.perf_counter() - current["t0"],
        )
        append_trace(self.path, trace)
        self._events = []

    def _roles_usage(self) -> dict[str, dict[str, int]]:
        if self.roles_usage_provider is None:
            return {}
        roles = {r: {k: int(v) for k, v in u.items()} for r, u in self.roles_usage_provider().items()}
        return roles if len(roles) > 1 else {}

    def discard(self) -> None:
        """Forget the episode in progress without writing it (its run is being retried, e.g. on another env
        server, and the retry will write the one trace of that episode)."""
        self._current = None
        self._events = []

    def close(self) -> None:
        if self._current is not None:
            self._write(finished=False)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        super().close()
