"""OpenEnv's harness API over prgym: ``PrgymSessionFactory.create(task, seed, episode_id)`` -> a session.

TRL's async GRPO (and any OpenEnv harness adapter) drives a ``ResourceSession``: ``initial_messages()`` (the
env's opening chat), ``list_tools()`` (our exact tool schemas as OpenEnv ``Tool``s), ``call_tool(name,
arguments)`` (one env step, ``ProductResearchEnv.call_tool``) and ``verify()`` (the env's ``finish()``: the
terminal reward of an ended episode, or the score of an abandoned one). Sessions run on a ``prgym serve`` URL
(:class:`prgym.client.RemoteEnv`) or, without one, in process over a catalog snapshot. ``plan_mode`` defaults to
``tool``: a harness never shows the env its text, so the plan is the ``submit_plan`` tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openenv.core.env_server.mcp_types import Tool
from openenv.core.harness import ResourceSession, ResourceSessionFactory, ToolResult, VerifyResult

__all__ = ["PrgymSession", "PrgymSessionFactory"]


class PrgymSession(ResourceSession):
    """One episode; see the module doc."""

    def __init__(self, env: Any, task: Any, seed: int | None, episode_id: str | None) -> None:
        self._env = env
        options: dict[str, Any] = {}
        if isinstance(task, str):
            options["task_id"] = task
        elif isinstance(task, Mapping) and "task" in task:
            options["task"] = dict(task["task"])
        elif isinstance(task, Mapping) and "task_id" in task and "kind" not in task:
            options["task_id"] = str(task["task_id"])
        elif task is not None:
            options["task"] = task if isinstance(task, Mapping) else task.model_dump(mode="json")
        if episode_id is not None:
            options["episode_id"] = episode_id
        _, info = env.reset(seed=seed, options=options)
        self._messages = list(info["messages"])
        self._tools = list(info["tools"])
        self._done = False
        self._closed = False

    def initial_messages(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self._messages]

    def list_tools(self) -> list[Tool]:
        return [
            Tool(
                name=t["function"]["name"],
                description=t["function"].get("description") or "",
                input_schema=t["function"]["parameters"],
            )
            for t in self._tools
        ]

    def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        result = self._env.call_tool(name, arguments)
        self._done = bool(result.terminated or result.truncated)
        errors = result.info.get("step_errors") or []
        metadata: dict[str, Any] = {"terminated": result.terminated, "truncated": result.truncated}
        if self._done:
            metadata["reward"] = float(result.reward)  # only the terminal reward: verify() returns the same
            metadata["reward_components"] = dict(result.info.get("reward_components") or {})
        return ToolResult(
            data=result.observation,
            done=self._done,
            metadata=metadata,
            error="; ".join(str(e.get("error")) for e in errors) or None,
        )

    def verify(self, transcript: list[dict[str, Any]], final_state: Any | None = None) -> VerifyResult:
        score = self._env.finish(truncated=True)
        return VerifyResult(
            env_reward=float(score.reward),
            done=self._done,
            metrics={
                **{f"reward_{k}": float(v) for k, v in score.components.items()},
                **_numbers(score.metrics),
            },
            artifacts={"transcript_length": len(transcript)},
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._env.close()


class PrgymSessionFactory(ResourceSessionFactory[PrgymSession]):
    """Sessions on ``env_url`` (a ``prgym serve`` server), or in process over ``catalog`` (with ``tasks``)."""

    def __init__(
        self,
        env_url: str | None = None,
        *,
        token: str | None = None,
        catalog: str | Path | None = None,
        tasks: str | Path | None = None,
        plan_mode: str = "tool",
        env_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if env_url is None and catalog is None:
            raise ValueError("PrgymSessionFactory needs env_url (a prgym serve URL) or catalog (a snapshot)")
        self.env_url, self.token, self.catalog, self.tasks = env_url, token, catalog, tasks
        self.plan_mode = plan_mode
        self.env_kwargs = dict(env_kwargs or {})

    def _env(self) -> Any:
        if self.env_url is not None:
            from prgym.client import RemoteEnv

            return RemoteEnv(self.env_url, token=self.token, plan_mode=self.plan_mode)
        from sandbox.env import ProductResearchEnv

        return ProductResearchEnv(self.catalog, tasks=self.tasks, plan_mode=self.plan_mode, **self.env_kwargs)

    def create(self, task: Any, seed: int | None = None, episode_id: str | None = None) -> PrgymSession:
        env = self._env()
        try:
            return PrgymSession(env, task, seed, episode_id)
        except BaseException:
            env.close()
            raise


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
