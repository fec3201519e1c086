"""``PrgymEnvironment``: one server session's ``ProductResearchEnv`` behind OpenEnv's ``Environment`` interface.

OpenEnv's server makes one instance per WebSocket session and calls ``reset_async`` / ``step_async`` on it one
message at a time. The blocking env work runs in the worker's shared thread pool under the per-step timeout: a
step that runs past it is abandoned (its thread finishes in the background), the episode ends truncated with
``info["server_error"]`` saying why, so a stuck step can never
corrupt a later episode: the session refuses further resets and the client opens a new one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from gymnasium.error import ResetNeeded
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import EnvironmentMetadata

from harness.server.logs import LOGGER, event
from harness.server.models import PlanMode, PrgymAction, PrgymObservation, PrgymState
from harness.server.settings import ServerSettings
from sandbox.env import ENV_VERSION, ProductResearchEnv

log = logging.getLogger(LOGGER)

RESET_OPTIONS = frozenset({"task_id", "task", "split", "plan_mode"})
PLAN_MODES = ("turn", "tool", "none")


class ServerStats:
    """Per-process counters shared by every session (read by ``/healthz`` and the graceful shutdown)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.steps = 0
        self.episodes = 0
        self.timeouts = 0
        self.started = time.time()


class PrgymEnvironment(Environment[PrgymAction, PrgymObservation, PrgymState]):
    """One session: its own ``ProductResearchEnv`` (over the process's shared catalog), both action forms."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(
        self,
        settings: ServerSettings,
        executor: Executor,
        stats: ServerStats,
        session_id_of: Callable[[PrgymEnvironment], str | None] | None = None,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._executor = executor
        self._stats = stats
        self._session_id_of = session_id_of
        self._session_id: str | None = None
        self._env: ProductResearchEnv | None = None
        self._env_plan_mode: PlanMode | None = settings.plan_mode
        self._episode_id: str | None = None
        self._steps = 0
        self._sent = 0
        self._over = False
        self._abandoned: str | None = None
        self._started = 0.0

    # -- OpenEnv interface --------------------------------------------------------------------------------------

    def reset(
        self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any
    ) -> PrgymObservation:
        unknown = sorted(set(kwargs) - RESET_OPTIONS)
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {unknown}; expected seed, episode_id, {', '.join(sorted(RESET_OPTIONS))}"
            )
        plan_mode = kwargs.pop("plan_mode", None) or self._settings.plan_mode
        if plan_mode is not None and plan_mode not in PLAN_MODES:
            raise ValueError(f"plan_mode must be one of {PLAN_MODES}, got {plan_mode!r}")
        if self._abandoned is not None:
            raise RuntimeError(
                "this session is closed for new episodes: " + self._abandoned + " (open a new session)"
            )
        options = {k: v for k, v in kwargs.items() if v is not None}
        if self._env is None or plan_mode != self._env_plan_mode:
            self._env = self._make_env(plan_mode)
            self._env_plan_mode = plan_mode
        text, info = self._env.reset(seed=seed, options=options)
        self._episode_id = episode_id or uuid.uuid4().hex
        self._steps = 0
        self._sent = 0
        self._over = False
        self._started = time.perf_counter()
        if self._session_id is None and self._session_id_of is not None:
            self._session_id = self._session_id_of(self)
        info = self._wire_info(info)
        info.update(episode_id=self._episode_id, session_id=self._session_id, plan_mode=plan_mode)
        event(
            log,
            "episode_start",
            session=self._session_id,
            episode=self._episode_id,
            task_id=info.get("task_id"),
            seed=seed,
        )
        return PrgymObservation(text=text, info=info, reward=0.0, done=False)

    def step(self, action: PrgymAction, timeout_s: float | None = None, **kwargs: Any) -> PrgymObservation:
        if self._env is None or self._episode_id is None:
            raise ResetNeeded("call reset before step: this session has no episode yet")
        if self._abandoned is not None:
            return self._abandoned_observation(self._abandoned)
        started = time.perf_counter()
        form = action.form
        if form == "message":
            text, reward, terminated, truncated, info = self._env.step(action.message)
        elif form == "tool":
            result = self._env.call_tool(
                action.tool, action.arguments if action.arguments is not None else {}
            )
            text, reward = result.observation, result.reward
            terminated, truncated, info = result.terminated, result.truncated, dict(result.info)
        else:
            score = self._env.finish(truncated=True)
            text = "[environment] the episode was finished by the client and scored."
            reward, terminated, truncated = score.reward, False, True
            info = {
                "reward_components": dict(score.components),
                "metrics": dict(score.metrics),
                "finished_by_client": True,
            }
        self._steps += 1
        info = self._wire_info(info)
        done = bool(terminated or truncated)
        event(
            log,
            "step",
            logging.DEBUG,
            session=self._session_id,
            episode=self._episode_id,
            step=self._steps,
            form=form,
            ms=round((time.perf_counter() - started) * 1000, 3),
            done=done,
        )
        if done and not self._over:
            self._over = True
            self._stats.episodes += 1
            event(
                log,
                "episode_end",
                session=self._session_id,
                episode=self._episode_id,
                steps=self._steps,
                reward=float(reward),
                terminated=bool(terminated),
                truncated=bool(truncated),
                seconds=round(time.perf_counter() - self._started, 3),
            )
        return PrgymObservation(
            text=text,
            reward=float(reward),
            done=done,
            terminated=bool(terminated),
            truncated=bool(truncated),
            info=info,
        )

    async def reset_async(
        self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any
    ) -> PrgymObservation:
        if self._abandoned is not None:
            # Refuse at once, not in the executor: under a tiny step timeout the refusal itself could time out.
            return self.reset(seed=seed, episode_id=episode_id, **kwargs)
        return await self._bounded("reset", lambda: self.reset(seed=seed, episode_id=episode_id, **kwargs))

    async def step_async(
        self, action: PrgymAction, timeout_s: float | None = None, **kwargs: Any
    ) -> PrgymObservation:
        return await self._bounded("step", lambda: self.step(action))

    @property
    def state(self) -> PrgymState:
        env = self._env
        return PrgymState(
            episode_id=self._episode_id,
            step_count=self._steps,
            task_id=env.task.task_id if env is not None and env.task is not None else None,
            over=self._over or self._abandoned is not None,
            session_id=self._session_id,
        )

    def get_metadata(self) -> EnvironmentMetadata:
        return EnvironmentMetadata(
            name="prgym",
            description="Catalog-grounded product research and shopping tasks (prgym ProductResearchEnv).",
            version=ENV_VERSION,
        )

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
        if self._episode_id is not None and not self._over:
            event(
                log, "episode_dropped", session=self._session_id, episode=self._episode_id, steps=self._steps
            )
        self._env = None

    # -- helpers ------------------------------------------------------------------------------------------------

    def _make_env(self, plan_mode: PlanMode | None) -> ProductResearchEnv:
        s = self._settings
        kwargs: dict[str, Any] = {
            "task_mode": s.task_mode or "research",
            "backend_kind": s.backend_kind,
            "tasks": s.tasks,
            "max_steps": s.max_steps,
            "info_messages": True,
        }
        if plan_mode is not None:
            kwargs["plan_mode"] = plan_mode
        if s.max_tool_result_chars is not None:
            kwargs["max_tool_result_chars"] = s.max_tool_result_chars
        if s.web is not None:
            kwargs["web"] = s.web  # one shared WebTools per process (sandbox.env.shared_web_tools)
        return ProductResearchEnv(s.catalog, **kwargs)

    def _wire_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """``info`` without the whole chat: only the messages added since the last reply (see models)."""
        info = dict(info)
        info.pop("new_messages", None)  # the delta below says the same
        messages = info.pop("messages", None)
        if isinstance(messages, list):
            info["messages_start"] = self._sent
            info["messages_delta"] = messages[self._sent :]
            self._sent = len(messages)
        return info

    async def _bounded(self, what: str, work: Callable[[], PrgymObservation]) -> PrgymObservation:
        loop = asyncio.get_running_loop()
        self._stats.in_flight += 1
        try:
            future = loop.run_in_executor(self._executor, work)
            try:
                result = await asyncio.wait_for(asyncio.shield(future), self._settings.step_timeout_s)
            except asyncio.TimeoutError:
                self._stats.timeouts += 1
                reason = (
                    f"the {what} took longer than the server's step timeout ({self._settings.step_timeout_s:g} s) "
                    "and was abandoned; the episode is over"
                )
                self._abandoned = reason
                event(
                    log,
                    "step_timeout",
                    logging.WARNING,
                    session=self._session_id,
                    episode=self._episode_id,
                    what=what,
                )
                return self._abandoned_observation(reason)
            self._stats.steps += what == "step"
            return result
        finally:
            self._stats.in_flight -= 1

    def _abandoned_observation(self, reason: str) -> PrgymObservation:
        return PrgymObservation(
            text=f"[environment] {reason}",
            reward=0.0,
            done=True,
            truncated=True,
            info={"server_error": {"kind": "step_timeout", "message": reason}},
        )
