"""The ``prgym_agent`` verl loop driven by verl's own classes on CPU (skipped where verl is not installed).

The LLM is a scripted token server (verl's ``TokenOutput``) and the tokenizer is trained here (byte-level BPE
with a Hermes-style chat template), so no weights are needed: the test checks the loop's contract with verl
(registration, token merging through verl's Continuous Token builder, Hermes tool-call parsing, text-only turns
continuing, ``reward_score`` equal to the env's terminal reward)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytest.importorskip("verl", reason="verl is not installed here (it has its own venv: /work/venvs/verl)")

from omegaconf import OmegaConf  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402
from verl.experimental.agent_loop.agent_loop import DictConfigWrap, _agent_loop_registry  # noqa: E402
from verl.workers.rollout.replica import TokenOutput  # noqa: E402

from harness.integrations import verl as prgym_verl  # noqa: E402
from harness.integrations.verl_data import verl_rows, write_verl_dataset  # noqa: E402
from sandbox.env import ProductResearchEnv, shared_backend  # noqa: E402
from sandbox.tasks.generator import generate_tasks  # noqa: E402

TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'system' and tools %}{{ m['content'] }}\n<tools>{{ tools | tojson }}</tools>"
    "{% else %}{{ m['content'] or '' }}{% endif %}"
    "{% for c in m.get('tool_calls') or [] %}<tool_call>{\"name\": \"{{ c['function']['name'] }}\", "
    "\"arguments\": {{ c['function']['arguments'] }}}</tool_call>{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=2000, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = TEMPLATE
    return fast


class ScriptedTokens:
    """verl's server manager interface: returns the next scripted assistant turn as token ids."""

    def __init__(self, tokenizer, turns: list[str]) -> None:
        self.tokenizer, self.turns, self.calls = tokenizer, list(turns), 0

    async def generate(self, request_id, prompt_ids, sampling_params, **kwargs) -> TokenOutput:
        text = self.turns[min(self.calls, len(self.turns) - 1)]
        self.calls += 1
        ids = self.tokenizer.encode(text + "<|im_end|>", add_special_tokens=False)
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids))


def call(name: str, **arguments) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def test_prgym_agent_loop_runs_an_episode_with_verl_classes(small_snapshot: Path, tmp_path: Path):
    tasks = generate_tasks(shared_backend(small_snapshot), 1, seed=7)
    task_file = tmp_path / "tasks.jsonl"
    task_file.write_text(tasks[0].model_dump_json() + "\n", encoding="utf-8")
    rows = verl_rows(tasks, small_snapshot, seed=5)
    assert rows[0]["agent_name"] == "prgym_agent" and rows[0]["extra_info"]["task_id"] == tasks[0].task_id
    parquet = write_verl_dataset(tasks, small_snapshot, tmp_path / "train.parquet", seed=5)
    assert parquet.is_file()
    assert _agent_loop_registry["prgym_agent"]["_target_"] == "harness.integrations.verl.PrgymAgentLoop"

    env = ProductResearchEnv(small_snapshot, tasks=tasks)
    _, info = env.reset(seed=5, options={"task_id": tasks[0].task_id})
    messages = env.step({"name": "product_search", "arguments": {"query": "laptop"}})[4]["messages"]
    hits = json.loads(next(m for m in reversed(messages) if m["role"] == "tool")["content"])
    pid = hits["hits"][0]["id"] if hits.get("hits") else "none"
    turns = [
        "Plan: search the catalog for the request within the budget, compare three products, report.",
        "Let me think about what to search for first.",  # a text-only turn: the loop must go on
        call("product_search", query="laptop"),
        call("visit_product", product_ids=[pid]),
        call("submit_report", report=f"# Report\n\nThe best fit is [P:{pid}].\n"),
    ] + [call("submit_report", report=f"# Report (revised)\n\nThe best fit is [P:{pid}].\n")] * 8
    corpus = [TEMPLATE, *turns, *(m["content"] for m in info["messages"]), json.dumps(info["tools"])] * 3
    tokenizer = tiny_tokenizer(corpus)
    config = OmegaConf.create(
        {
            "actor_rollout_ref": {
                "rollout": {
                    "prompt_length": 8192,
                    "response_length": 60000,
                    "multi_turn": {
                        "format": "hermes",
                        "max_assistant_turns": 12,
                        "max_tool_response_length": 8000,
                        "max_parallel_calls": 16,
                    },
                }
            }
        }
    )
    server = ScriptedTokens(tokenizer, turns)

    async def rollout():  # verl builds its loops inside the worker's event loop
        loop = prgym_verl.PrgymAgentLoop(
            trainer_config=DictConfigWrap(config),
            server_manager=server,
            tokenizer=tokenizer,
            processor=None,
            dataset_cls=None,
            data_config=DictConfigWrap(OmegaConf.create({})),
            catalog=str(small_snapshot),
            tasks=str(task_file),
        )
        return await loop.run({"temperature": 1.0}, **rows[0])

    output = asyncio.run(rollout())
    assert server.calls >= 5  # the text-only turn did not end the rollout
    assert len(output.response_ids) == len(output.response_mask) and 0 in output.response_mask
    assert 1 in output.response_mask and output.response_logprobs
    assert output.extra_fields["episode_ended"] and output.extra_fields["reward_components"]
    # the reward is the env's own terminal reward for the same actions
    assert output.reward_score is not None and 0.0 <= output.reward_score <= 1.0
