"""``EpisodeRecorder``: a Gymnasium wrapper that writes each episode's raw trace as one JSON line.

It needs no change in policies or in the env: it listens to the env's typed events (by chaining the env's
``on_event`` callback, which keeps their timings) and reads ``info["messages"]`` after each step to know which
chat messages the step added. When an episode ends (terminated or truncated) its :class:`EpisodeTrace` is
appended to the file, flushed and fsynced, so a crash loses at most the episode in progress. An episode left
unfinished (``reset`` or ``close`` mid-way) is written too, with ``finished=False``, so nothing is silently lost.

Policy metadata (teacher name, models, temperature, prompt) is given at construction or per episode with
:meth:`EpisodeRecorder.set_policy`; token usage per turn with :meth:`EpisodeRecorder.note_usage` before the
step it paid for, or as totals from a ``usage_provider`` called when the episode ends.
"""

from __future__ import annotations

import json
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
from sandbox.recorder.schema import SCHEMA_VERSION, EpisodeTrace, StepRecord, TraceEvent, trace_role

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


def _product_ids_in(tool_message: Mapping[str, Any]) -> list[str]:
    """Catalog ids a successful ``product_search`` / ``visit_product`` result shows (they exist in the snapshot)."""
    name = tool_message.get("name")
    if name not in ("product_search", "visit_product"):
        return []
    try:
        body = json.loads(tool_message.get("content") or "")
    except ValueError:
        return []
    if not isinstance(body, dict) or "error" in body:
        return []
    rows = body.get("hits") if name == "product_search" else body.get("products")
    return [str(row["id"]) for row in rows or [] if isinstance(row, dict) and isinstance(row.get("id"), str)]


class EpisodeRecorder(gym.Wrapper):
    """Record every episode of ``env`` into the JSONL file ``path`` (created on the first write).

    Args:
        env: A prgym env (or a wrapper around one) that puts ``messages`` in its infos.
        path: The traces file; episodes are appended.
        policy: Metadata of whoever acts, e.g. ``{"teacher": "qwen-t0.7", "models": {"agent": "qwen3-8b"}}``.
        usage_provider: Called at the end of each episode for the episode's token totals (e.g. the policy's
            ``usage.snapshot``); without it, totals are the sum of the per-turn usage given to ``note_usage``.
    """

    def __init__(
        self,
        env: gym.Env,
        path: str | Path,
        *,
        policy: Mapping[str, Any] | None = None,
        usage_provider: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        super().__init__(env)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.policy: dict[str, Any] = dict(policy or {})
        self.usage_provider = usage_provider
        self._hooked = False
        inner = env.unwrapped
        if hasattr(inner, "on_event"):
            previous = inner.on_event

            def hook(event: EnvEvent) -> None:
                self._on_event(event)
                if previous is not None:
                    previous(event)

            inner.on_event = hook
            self._hooked = True
        self._current: dict[str, Any] | None = None
        self._pending_usage: dict[str, int] | None = None
        self._events: list[TraceEvent] = []
        self.episodes_written = 0

    # -- metadata -----------------------------------------------------------------------------------------------

    def set_policy(self, **metadata: Any) -> None:
        """Replace the policy metadata for the next episodes (call before ``reset``)."""
        self.policy = dict(metadata)

    def note_usage(self, usage: Mapping[str, int]) -> None:
        """Tokens spent producing the next action: attached to the step that follows."""
        merged = dict(self._pending_usage or {})
        for key, value in usage.items():
            merged[key] = merged.get(key, 0) + int(value)
        self._pending_usage = merged

    # -- events -------------------------------------------------------------------------------------------------

    def _on_event(self, event: EnvEvent) -> None:
        self._events.append(self._trace_event(event.model_dump(exclude_none=True)))

    def _trace_event(self, data: Mapping[str, Any]) -> TraceEvent:
        fields = dict(data)
        fields["role"] = trace_role(str(fields["role"]))
        return TraceEvent(index=len(self._events), **fields)

    # -- gym API ------------------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if self._current is not None:
            self._write(finished=False)
        options = dict(options or {})
        episode_id = str(options.pop("episode_id", "") or uuid.uuid4().hex)
        self._events = []
        self._pending_usage = None
        started = time.perf_counter()
        observation, info = self.env.reset(seed=seed, options=options)
        if "messages" not in info:
            raise ValueError(
                "EpisodeRecorder needs info['messages'] from the env (construct it with info_messages=True)"
            )
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
            "opening": [dict(m) for m in info["messages"]],
            "steps": [],
            "known": {},
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "t0": started,
        }
        self._seen_messages = len(info["messages"])
        if not self._hooked:
            self._events.append(
                TraceEvent(index=0, step=0, kind="reset", role="user_agent", content=str(observation))
            )
        return observation, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._current is None:
            return self.env.step(action)
        started = time.perf_counter()
        observation, reward, terminated, truncated, info = self.env.step(action)
        duration_ms = (time.perf_counter() - started) * 1000
        if not self._hooked:
            for event in info.get("events") or []:
                self._events.append(self._trace_event(event))
        messages = info.get("messages") or []
        added = [dict(m) for m in messages[self._seen_messages :]]
        self._seen_messages = len(messages)
        if added:
            self._record_step(added, info, float(reward), duration_ms)
        if terminated or truncated:
            current = self._current
            current.update(
                terminated=bool(terminated),
                truncated=bool(truncated),
                reward=float(reward),
                reward_components=dict(info.get("reward_components") or {}),
                reward_weights=dict(info.get("reward_weights") or {}),
                metrics=dict(info.get("metrics") or {}),
                final_answer=info.get("final_answer"),
                accepted=bool(info.get("accepted", False)),
            )
            metrics = current["metrics"]
            unknown = set(metrics.get("unknown_ids") or [])
            for pid in metrics.get("cited_ids") or []:
                if pid not in unknown:
                    current["known"][pid] = None
            self._write(finished=True)
        return observation, reward, terminated, truncated, info

    def _record_step(
        self, added: list[dict[str, Any]], info: Mapping[str, Any], reward: float, duration_ms: float
    ) -> None:
        assert self._current is not None
        assistant, rest = added[0], added[1:]
        tool_messages = [m for m in rest if m.get("role") == "tool"]
        feedback = [m for m in rest if m.get("role") != "tool"]
        for message in tool_messages:
            for pid in _product_ids_in(message):
                self._current["known"][pid] = None
        self._current["steps"].append(
            StepRecord(
                step=int(info.get("step", len(self._current["steps"]) + 1)),
                assistant=assistant,
                tool_messages=tool_messages,
                feedback=feedback,
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
            started_at=current["started_at"],
            duration_s=time.perf_counter() - current["t0"],
        )
        append_trace(self.path, trace)
        self.episodes_written += 1
        self._events = []

    def discard(self) -> None:
        """Forget the episode in progress without writing it (its run is being retried, e.g. on another env
        server, and the retry will write the one trace of that episode)."""
        self._current = None
        self._events = []

    def close(self) -> None:
        if self._current is not None:
            self._write(finished=False)
        super().close()
