"""verl agent loop ``prgym_agent``: multi-turn rollouts where the env sees each whole assistant turn.

verl's ``ToolAgentLoop`` executes tool calls one by one through short-lived ``BaseTool`` objects, never shows
the tools the assistant's text (so the Plan phase cannot be checked), ends the rollout on the first turn
without a tool call and truncates tool responses to 256 tokens by default. This loop instead:

- resets a prgym env per rollout (a ``prgym serve`` URL through :class:`prgym.client.RemoteEnv`, or an
  in-process env over a catalog) on ``extra_info.task_id`` / ``seed``, so per-rollout state lives in the env
  session, not in tool objects;
- decodes each generated turn with verl's tool parser into one OpenAI assistant message (content and tool
  calls) and passes it whole to ``env.step``: plan text, parallel calls and final answers in one step;
- continues after text-only turns (the env answers them) until the env terminates or truncates the episode,
  or verl's response length / turn limits are hit (then the episode is scored with ``env.finish()``);
- appends the env's messages (tool results, supervisor critiques) as context tokens (mask 0), each truncated
  to ``multi_turn.max_tool_response_length`` tokens;
- sets ``AgentLoopOutput.reward_score`` to the env's terminal reward (overriding a reward model), with the
  reward components in ``extra_fields``.

Register it by importing this module (verl's ``agent_loop_config_path`` entry ``_target_:
harness.integrations.verl.PrgymAgentLoop``; see ``examples/verl/``). Settings come from the loop's config
entry or the environment: ``env_url`` / ``PRGYM_ENV_URL``, ``env_token`` / ``PRGYM_SERVER_TOKEN``, or
``catalog`` / ``PRGYM_CATALOG`` with ``tasks`` / ``PRGYM_TASKS`` for an in-process env.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput, register
from verl.experimental.agent_loop.tool_parser import ToolParser
from verl.tools.schemas import OpenAIFunctionToolSchema

from harness.integrations.verl_data import AGENT_NAME

__all__ = ["AGENT_NAME", "PrgymAgentLoop"]


class _LocalEnv:
    """An in-process env with the async surface the loop uses (``areset`` / ``astep`` / ``finish``)."""

    def __init__(self, catalog: str, tasks: str | None, plan_mode: str | None) -> None:
        from sandbox.env import ProductResearchEnv

        kwargs: dict[str, Any] = {"tasks": tasks}
        if plan_mode is not None:
            kwargs["plan_mode"] = plan_mode
        self.env = ProductResearchEnv(catalog, **kwargs)

    async def areset(self, **kwargs: Any) -> Any:
        return await self.env.areset(**kwargs)

    async def astep(self, action: Any) -> Any:
        return await self.env.astep(action)

    async def afinish(self, truncated: bool = True) -> Any:
        return await asyncio.to_thread(self.env.finish, truncated)

    async def aclose(self) -> None:
        self.env.close()


@register(AGENT_NAME)
class PrgymAgentLoop(AgentLoopBase):
    """See the module doc."""

    def __init__(
        self,
        *args: Any,
        env_url: str | None = None,
        env_token: str | None = None,
        catalog: str | None = None,
        tasks: str | None = None,
        plan_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        multi_turn = self.rollout_config.multi_turn
        self.max_assistant_turns = multi_turn.max_assistant_turns
        self.max_tool_response_length = multi_turn.max_tool_response_length
        self.tool_parser = ToolParser.get_tool_parser(multi_turn.format, self.tokenizer)
        self.response_length = self.rollout_config.response_length
        self.env_url = env_url or os.environ.get("PRGYM_ENV_URL")
        self.env_token = env_token or os.environ.get("PRGYM_SERVER_TOKEN")
        self.catalog = catalog or os.environ.get("PRGYM_CATALOG")
        self.tasks = tasks or os.environ.get("PRGYM_TASKS")
        self.plan_mode = plan_mode
        if not self.env_url and not self.catalog:
            raise ValueError("prgym_agent needs env_url (or PRGYM_ENV_URL) or catalog (or PRGYM_CATALOG)")

    def _make_env(self) -> Any:
        if self.env_url:
            from prgym.client import RemoteEnv

            return RemoteEnv(self.env_url, token=self.env_token, plan_mode=self.plan_mode)
        return _LocalEnv(self.catalog, self.tasks, self.plan_mode)  # type: ignore[arg-type]

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        extra = kwargs.get("extra_info") or {}
        if "task_id" not in extra:
            raise ValueError("prgym_agent rows need extra_info.task_id (write them with write_verl_dataset)")
        env = self._make_env()
        metrics: dict[str, Any] = {}
        try:
            _, info = await env.areset(seed=int(extra.get("seed", 0)), options={"task_id": extra["task_id"]})
            messages: list[dict[str, Any]] = list(info["messages"])
            tools = list(info["tools"])
            tool_schemas = _parser_schemas(tools)
            prompt_ids = await self.ct_build_initial_tokens(messages, tools=tools)
            response_mask: list[int] = []
            logprobs: list[float] = []
            turns, reward, components, ended = 0, 0.0, {}, False
            while True:
                output = await self.server_manager.generate(
                    request_id=f"{extra['task_id']}-{id(env)}",
                    prompt_ids=prompt_ids,
                    sampling_params=sampling_params,
                )
                turns += 1
                merged, response_mask, new_logprobs = await self.ct_merge_assistant_token(
                    prompt_ids,
                    output.token_ids,
                    response_mask,
                    logprobs if (logprobs or output.log_probs) else None,
                    assistant_logprobs=output.log_probs or None,
                )
                prompt_ids = merged.token_ids
                logprobs = new_logprobs or logprobs
                content, calls = await self.tool_parser.extract_tool_calls(output.token_ids, tool_schemas)
                action = _assistant_message(content, calls, turns)
                _, reward, terminated, truncated, info = await env.astep(action)
                components = dict(info.get("reward_components") or components)
                if terminated or truncated:
                    ended = True
                    break
                if len(response_mask) >= self.response_length or (
                    self.max_assistant_turns and turns >= self.max_assistant_turns
                ):
                    break
                previous = messages
                messages = [*messages, action, *self._truncated(info["messages"][len(messages) + 1 :])]
                merged, response_mask, new_logprobs = await self.ct_merge_context_msg(
                    previous, messages, prompt_ids, response_mask, logprobs or None, tools=tools
                )
                if len(response_mask) >= self.response_length:
                    break
                prompt_ids = merged.token_ids
                logprobs = new_logprobs or logprobs
            if not ended:
                score = await env.afinish(truncated=True)
                reward, components = score.reward, dict(score.components)
        finally:
            await env.aclose()
        response_ids = prompt_ids[len(prompt_ids) - len(response_mask) :]
        return AgentLoopOutput(
            prompt_ids=prompt_ids[: len(prompt_ids) - len(response_mask)],
            response_ids=response_ids[: self.response_length],
            response_mask=response_mask[: self.response_length],
            response_logprobs=logprobs[: self.response_length] if logprobs else None,
            reward_score=float(reward),
            num_turns=2 * turns + 1,
            metrics=AgentLoopMetrics(
                **{k: v for k, v in metrics.items() if k in AgentLoopMetrics.model_fields}
            ),
            extra_fields={
                "reward_components": components,
                "task_id": extra["task_id"],
                "episode_ended": ended,
            },
        )

    def _truncated(self, new_messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The env's messages with each content cut to ``max_tool_response_length`` tokens."""
        limit = self.max_tool_response_length
        out = []
        for message in new_messages:
            content = message.get("content")
            if isinstance(content, str) and limit:
                ids = self.tokenizer.encode(content, add_special_tokens=False)
                if len(ids) > limit:
                    content = self.tokenizer.decode(ids[:limit]) + " ...(truncated)"
            out.append({**message, "content": content})
        return out


def _parser_schemas(tools: list[dict[str, Any]]) -> list[OpenAIFunctionToolSchema] | None:
    """Our schemas as verl's tool-parser models; verl's model wants a ``type`` on every property, which
    ``$ref`` / ``anyOf`` properties lack, and the parsers that take ``tools`` only use the names (Hermes
    ignores them), so unparseable schemas fall back to None rather than failing the rollout."""
    try:
        return [OpenAIFunctionToolSchema.model_validate(t) for t in tools]
    except ValueError:
        return None


def _assistant_message(content: str, calls: list[Any], turn: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or ""}
    if calls:
        message["tool_calls"] = [
            {
                "id": call.tool_call_id or f"call_{turn}_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": _json_text(call.arguments)},
            }
            for i, call in enumerate(calls)
        ]
    return message


def _json_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)
