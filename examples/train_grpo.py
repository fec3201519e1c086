"""GRPO with TRL on real prgym episodes: ``GRPOTrainer(environment_factory=...)`` drives the env tool call by
tool call and takes the env's terminal reward.

    python examples/train_grpo.py --catalog snapshots/small --tasks tasks.jsonl --steps 2 --out runs/grpo-tiny
    python examples/train_grpo.py --catalog snapshots/small --tasks tasks.jsonl --model Qwen/Qwen3-0.6B \\
        --steps 200 --num-generations 8 --max-completion-length 2048 --out runs/grpo-qwen3

Without ``--model`` the policy is a 2-layer Qwen2 built from a config (random weights) with a tokenizer trained
here on the prompts, so it runs on a CPU without downloads. Such a model never writes a tool call by itself, so
its generation is nudged to write a ``product_search`` or a ``submit_report`` call each turn (``--nudge``, on by default without
``--model``; see ``harness.integrations.tiny_lm.tool_call_bias``): the episodes, tool results, rewards and the
GRPO update are real, the policy is not. A real model id (``--model``) gets no nudge.

``--max-completion-length`` counts the tool results too: TRL 1.16 drops a tool result that would not fit from
the completion (the env has run the call, the model never reads its answer) and ends the rollout there, so keep
it above a few compact results (``TINY_ENV_KWARGS`` caps each at 400 characters, ~450 tokens with the notes).

Rewards: the env's terminal reward (``get_reward``, logged as ``rewards/PrgymEnvironment/mean``) is the
training signal; each reward component is logged beside it with weight 0 (``rewards/prgym_<component>/mean``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def accelerator_available() -> bool:
    """Whether torch sees a GPU (CUDA / ROCm) or Apple MPS; without one the trainer must be told to use the CPU
    (TRL's configs default to bf16 on an accelerator and refuse to start otherwise)."""
    import torch

    return torch.cuda.is_available() or torch.backends.mps.is_available()


NUDGE_CALLS = [
    ("product_search", {"query": "best value"}),
    ("submit_report", {"report": "Overall, I recommend the best value option."}),
]
"""What the nudged tiny policy writes: a search, or a (too short, rejected) report; the model picks."""
TINY_ENV_KWARGS: dict[str, Any] = {
    "max_tool_result_chars": 400,
    "tool_result_fields": {"product_search": ["title", "price"]},
    "max_steps": 8,
}
"""Compact tool results and short episodes for the tiny model's context; a real model gets the defaults."""


def tiny_tokenizer(dataset: Any, tool_schemas: list[dict[str, Any]], vocab_size: int = 4096) -> Any:
    """A tokenizer trained on the prompts and tool schemas (what the tiny policy reads)."""
    from harness.integrations.tiny_lm import tool_call_text, train_chat_tokenizer

    texts = [json.dumps(row["prompt"], ensure_ascii=False) for row in dataset]
    texts += [json.dumps(tool_schemas, ensure_ascii=False), *(tool_call_text(*c) for c in NUDGE_CALLS)]
    return train_chat_tokenizer(texts, vocab_size=vocab_size)


def train_grpo(
    catalog: str | Path,
    tasks: str | Path | Any,
    out: str | Path,
    *,
    model: str | None = None,
    steps: int = 2,
    num_generations: int = 2,
    max_completion_length: int = 1024,
    max_tool_calls: int = 2,
    learning_rate: float = 1e-4,
    nudge: bool | None = None,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run ``steps`` GRPO steps; returns the per-step log, the trainer and the environment class."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from transformers.utils import get_json_schema
    from trl import GRPOConfig, GRPOTrainer

    from harness.integrations.tiny_lm import tiny_qwen2, tool_call_bias
    from harness.integrations.trl import grpo_dataset, make_trl_environment, reward_component_funcs

    kwargs = dict(TINY_ENV_KWARGS if model is None else {})
    kwargs.update(env_kwargs or {})
    environment = make_trl_environment(catalog, tasks, env_kwargs=kwargs)
    dataset = grpo_dataset(tasks, catalog, seed=seed, env_kwargs=kwargs)
    probe = environment()
    schemas = [get_json_schema(getattr(probe, name)) for name in environment._tool_names]
    if model is None:
        tokenizer = tiny_tokenizer(dataset, schemas)
        policy: Any = tiny_qwen2(tokenizer, seed=seed)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
        policy = AutoModelForCausalLM.from_pretrained(model)
    nudge = model is None if nudge is None else nudge
    generation_kwargs = {"sequence_bias": tool_call_bias(tokenizer, NUDGE_CALLS)} if nudge else None
    components = reward_component_funcs()
    config = GRPOConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=num_generations,
        num_generations=num_generations,
        max_completion_length=max_completion_length,
        max_tool_calling_iterations=max_tool_calls,
        learning_rate=learning_rate,
        reward_weights=[0.0] * len(components),  # logged only: get_reward (weight 1) is the reward
        generation_kwargs=generation_kwargs,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=model is None or not accelerator_available(),
        disable_tqdm=True,
        seed=seed,
    )
    trainer = GRPOTrainer(
        model=policy,
        reward_funcs=components,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        environment_factory=environment,
    )
    trainer.train()
    log = [h for h in trainer.state.log_history if "loss" in h]
    return {"log": log, "trainer": trainer, "environment": environment}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", required=True, help="Catalog snapshot directory.")
    parser.add_argument("--tasks", required=True, help="Task-set JSONL (prgym tasks generate).")
    parser.add_argument("--out", required=True, help="Trainer output directory.")
    parser.add_argument("--model", default=None, help="A model id or path; default: a tiny random Qwen2.")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--num-generations", type=int, default=2)
    parser.add_argument(
        "--max-completion-length",
        type=int,
        default=1024,
        help="Tokens per rollout after the prompt, tool results included (TRL drops a result that does not fit).",
    )
    parser.add_argument("--max-tool-calls", type=int, default=2, help="Tool-calling rounds per rollout.")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--nudge", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = train_grpo(
        args.catalog,
        args.tasks,
        args.out,
        model=args.model,
        steps=args.steps,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        max_tool_calls=args.max_tool_calls,
        learning_rate=args.learning_rate,
        nudge=args.nudge,
        seed=args.seed,
    )
    print(f"{'step':>4} {'loss':>9} {'reward':>7} {'tool calls/rollout':>19}")
    for step, entry in enumerate(result["log"], 1):
        print(
            f"{step:>4} {entry['loss']:>9.4f} {entry.get('reward', math.nan):>7.3f} "
            f"{entry.get('tools/call_frequency', 0.0):>19.2f}"
        )
    figures = {
        "loss": [h["loss"] for h in result["log"]],
        "reward": [h.get("reward") for h in result["log"]],
        "tool_call_frequency": [h.get("tools/call_frequency") for h in result["log"]],
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
