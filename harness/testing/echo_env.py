"""A tiny real Gymnasium env with tools, for testing the episode loop and the runner without the catalog.

The agent is asked to echo some words with the ``echo`` tool and then answer. Tool calls are executed for real
and mistakes are answered the way the prgym env answers them: an error observation naming the problem (bad
JSON, unknown tool, wrong argument), and the episode goes on. The reward is the share of well-formed tool calls
once the agent answers (a plain-text reply or the ``finish`` tool); ``max_turns`` without an answer truncates.
"""

from __future__ import annotations

import json
from typing import Any

import gymnasium
from gymnasium import spaces

ECHO_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "echo",
            "description": "Repeat a text back.",
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "finish",
            "description": "End the task with a final answer.",
            "parameters": {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
            },
        },
    },
]


class EchoToolEnv(gymnasium.Env):
    """See the module docstring. ``info["messages"]`` is the full conversation after every reset and step."""

    metadata = {"render_modes": []}
    # Built once: a Text space builds a character table, and benchmarks create thousands of these envs.
    observation_space = spaces.Text(max_length=100_000)
    action_space = spaces.Text(max_length=100_000)

    def __init__(self, max_turns: int = 8) -> None:
        self.max_turns = max_turns
        self.messages: list[dict[str, Any]] = []
        self.turns = 0
        self.valid_calls = 0
        self.invalid_calls = 0
        self.closed = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task_id = str((options or {}).get("task_id", "echo-0"))
        words = " ".join(f"w{int(x)}" for x in self.np_random.integers(0, 1000, size=3))
        self.messages = [
            {"role": "system", "content": "You are a test agent. Use the tools."},
            {"role": "user", "content": f"Task {task_id}: echo the words '{words}', then answer."},
        ]
        self.turns = self.valid_calls = self.invalid_calls = 0
        info = {
            "messages": list(self.messages),
            "tools": ECHO_TOOLS,
            "task_id": task_id,
            "env_version": "echo-1",
        }
        return self.messages[-1]["content"], info

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        message = action if isinstance(action, dict) else {"role": "assistant", "content": str(action)}
        self.messages.append(message)
        self.turns += 1
        calls = message.get("tool_calls") or []
        terminated = False
        observations = []
        for call in calls:
            text, finished = self._run_tool(call)
            observations.append(text)
            self.messages.append(
                {
                    "role": "tool",
                    "tool_call_id": str(call.get("id", "")) if isinstance(call, dict) else "",
                    "content": text,
                }
            )
            terminated = terminated or finished
        if not calls:
            terminated = True
            observations.append("answer received")
        truncated = not terminated and self.turns >= self.max_turns
        reward = 0.0
        components: dict[str, float] = {}
        if terminated or truncated:
            total = self.valid_calls + self.invalid_calls
            rate = self.valid_calls / total if total else 0.0
            reward = rate if terminated else 0.0
            components = {"valid_call_rate": rate, "answered": 1.0 if terminated else 0.0}
        info = {
            "messages": list(self.messages),
            "reward_components": components,
            "valid_calls": self.valid_calls,
            "invalid_calls": self.invalid_calls,
        }
        return "\n".join(observations), reward, terminated, truncated, info

    def _run_tool(self, call: Any) -> tuple[str, bool]:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            self.invalid_calls += 1
            return "error: malformed tool call (no 'function' object)", False
        name = function.get("name")
        try:
            args = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError) as exc:
            self.invalid_calls += 1
            return f"error: arguments of {name!r} are not valid JSON ({exc})", False
        if name not in ("echo", "finish"):
            self.invalid_calls += 1
            return f"error: unknown tool {name!r}; available tools: echo, finish", False
        key = "text" if name == "echo" else "answer"
        if not isinstance(args, dict) or not isinstance(args.get(key), str):
            self.invalid_calls += 1
            return f"error: {name} needs a string argument {key!r}", False
        self.valid_calls += 1
        if name == "finish":
            return f"final answer: {args[key]}", True
        return f"echo: {args[key]}", False

    def close(self) -> None:
        self.closed = True
