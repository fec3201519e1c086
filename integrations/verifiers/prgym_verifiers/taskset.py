"""``PrgymTaskset``: prgym tasks for verifiers v1, with our exact tool schemas and the env's terminal reward.

- :class:`PrgymTaskset` loads a prgym task file (``sandbox.tasks`` JSONL or ShoppingBench); each task's prompt
  is the env's own opening chat (system prompt and request), built on the catalog (``catalog``) or read from a
  ``prgym serve`` server (``env_url``).
- :class:`PrgymToolset` is the stateful tool server (the ``tasksets/nemo_gym`` pattern: raw JSON schemas,
  rollout state in :class:`PrgymState`): it lists the env's tools and runs each call as one env step
  (``call_tool``) on an env session kept per rollout, in process over the catalog or on the server.
- The ``prgym`` ``@vf.reward`` is the env's terminal reward: the reward of the call that ended the episode, or,
  for a rollout the agent stopped early, ``finish()`` on a fresh env that replays the rollout's calls (the env
  is deterministic given the seed, task and catalog, so the replay reaches the same state and score).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, Tool
from pydantic import Field
from verifiers.v1.mcp import SharedToolsetConfig, Toolset
from verifiers.v1.runtimes import Runtime
from verifiers.v1.state import State
from verifiers.v1.task import Task, TaskConfig, TaskData
from verifiers.v1.taskset import Taskset, TasksetConfig
from verifiers.v1.trace import Trace
from verifiers.v1.utils.decorators import reward

from sandbox.tasks.taskset import load_tasks

__all__ = ["PrgymConfig", "PrgymState", "PrgymTask", "PrgymTaskset", "PrgymToolset", "open_env"]


class PrgymEnvConfig(SharedToolsetConfig):
    """Where episodes run: a ``prgym serve`` URL, or a catalog snapshot in the tool server's process."""

    env_url: str | None = None
    token: str | None = None
    catalog: Path | None = None
    tasks: Path | None = None
    plan_mode: str = "tool"
    max_tool_result_chars: int | None = None


class PrgymState(State):
    """One rollout: its env session key, its task, the calls so far and the terminal reward once known."""

    session: str = ""
    task: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    calls: list[dict[str, Any]] = Field(default_factory=list)
    done: bool = False
    reward: float | None = None
    components: dict[str, float] = Field(default_factory=dict)


def open_env(config: PrgymEnvConfig) -> Any:
    """A fresh env with ``call_tool`` / ``finish``: a :class:`prgym.client.RemoteEnv` or a local env."""
    if config.env_url:
        from prgym.client import RemoteEnv

        return RemoteEnv(config.env_url, token=config.token, plan_mode=config.plan_mode)
    if config.catalog is None:
        raise ValueError("set env_url (a prgym serve URL) or catalog (a snapshot directory)")
    from sandbox.env import ProductResearchEnv

    kwargs: dict[str, Any] = {"plan_mode": config.plan_mode}
    if config.max_tool_result_chars is not None:
        kwargs["max_tool_result_chars"] = config.max_tool_result_chars
    return ProductResearchEnv(config.catalog, tasks=config.tasks, **kwargs)


def reset(env: Any, state: PrgymState) -> dict[str, Any]:
    _, info = env.reset(seed=state.seed, options={"task": state.task})
    return info


class PrgymToolset(Toolset[PrgymEnvConfig, PrgymState]):
    """The env's tools over MCP; one env session per rollout (keyed by ``state.session``)."""

    TOOL_PREFIX = None

    def __init__(self, config: PrgymEnvConfig) -> None:
        super().__init__(config)
        self._envs: dict[str, Any] = {}
        self._tools: dict[str, list[dict[str, Any]]] = {}

    def register(self, mcp: MCPServer) -> None:
        server = cast(Any, mcp)
        server.list_tools = self._with_state(self.list_tools)
        server.call_tool = self._with_state(self.call_tool)

    def _env(self, state: PrgymState) -> Any:
        if state.session not in self._envs:
            env = open_env(self.config)
            self._tools[state.session] = reset(env, state)["tools"]
            self._envs[state.session] = env
        return self._envs[state.session]

    async def list_tools(self) -> list[Tool]:
        return self.tools_for(self.state)

    def tools_for(self, state: PrgymState) -> list[Tool]:
        self._env(state)
        return [
            Tool(
                name=t["function"]["name"],
                description=t["function"].get("description"),
                input_schema=t["function"]["parameters"],
            )
            for t in self._tools[state.session]
        ]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult:
        return self.call_for(self.state, name, arguments)

    def call_for(self, state: PrgymState, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """One tool call as one env step; a bad call is an observation (``is_error``), never an exception."""
        env = self._env(state)
        result = env.call_tool(name, arguments)
        state.calls.append({"name": name, "arguments": arguments})
        if result.terminated or result.truncated:
            state.done = True
            state.reward = float(result.reward)
            state.components = dict(result.info.get("reward_components") or {})
            env.close()
            self._envs.pop(state.session, None)
        failed = bool(result.info.get("step_errors"))
        return CallToolResult(content=[TextContent(type="text", text=result.observation)], is_error=failed)


class PrgymTaskConfig(TaskConfig):
    env: PrgymEnvConfig = PrgymEnvConfig()
    """Set by the taskset from its ``tools`` config (the reward's replay runs where the tools run)."""


class PrgymConfig(TasksetConfig):
    tasks: Path
    """A prgym task file (``prgym tasks generate`` JSONL, or a ShoppingBench file)."""
    seed: int = 0
    limit: int | None = None
    tools: PrgymEnvConfig = PrgymEnvConfig()
    task: PrgymTaskConfig = PrgymTaskConfig()


class PrgymData(TaskData):
    task: dict[str, Any]
    """The prgym task (``sandbox.tasks`` model, as JSON)."""
    seed: int = 0


class PrgymTask(Task[PrgymData, PrgymState, PrgymTaskConfig]):
    @property
    def key(self) -> str:
        return str(self.data.task.get("task_id") or self.hash)

    async def setup(self, trace: Trace, runtime: Runtime | None = None) -> None:
        state = trace.state
        state.session = uuid.uuid4().hex
        state.task = dict(self.data.task)
        state.seed = self.data.seed

    @reward(weight=1.0)
    async def prgym(self, trace: Trace) -> float:
        """The env's terminal reward (a stopped rollout is scored by replaying its calls, then ``finish()``)."""
        state = trace.state
        if not state.done:
            env = open_env(self.config.env)
            try:
                reset(env, state)
                for call in state.calls:
                    env.call_tool(call["name"], call["arguments"])
                score = env.finish(truncated=True)
            finally:
                env.close()
            state.reward, state.components = float(score.reward), dict(score.components)
        for name, value in state.components.items():
            trace.record_metric(f"prgym_{name}", float(value))
        return float(state.reward or 0.0)


class PrgymTaskset(Taskset[PrgymTask, PrgymConfig]):
    @classmethod
    def toolsets(cls, config: PrgymConfig) -> list[Toolset]:
        return [PrgymToolset(config.tools)]

    def load(self):
        tasks = list(load_tasks(self.config.tasks))
        if self.config.limit is not None:
            tasks = tasks[: self.config.limit]
        if not tasks:
            raise ValueError(f"no tasks in {self.config.tasks}")
        env = open_env(self.config.tools)
        task_config = self.config.task.model_copy(update={"env": self.config.tools})
        try:
            for i, task in enumerate(tasks):
                seed = self.config.seed + i
                data = task.model_dump(mode="json")
                _, info = env.reset(seed=seed, options={"task": data})
                prompt = [{"role": m["role"], "content": m["content"]} for m in info["messages"]]
                yield PrgymTask(
                    PrgymData(id=task.task_id, name=task.task_id, prompt=prompt, task=data, seed=seed),
                    task_config,
                )
        finally:
            env.close()
