"""SFT with TRL on distilled prgym trajectories (``prgym distill`` output).

    prgym tasks generate --catalog snapshots/small -n 8 --out tasks.jsonl
    prgym run --tasks tasks.jsonl --catalog snapshots/small --policy scripted --out runs/scripted
    prgym distill runs/scripted --out train.jsonl
    python examples/train_sft.py --data train.jsonl --steps 4 --out runs/sft-tiny
    python examples/train_sft.py --data train.jsonl --model Qwen/Qwen3-0.6B --steps 500 --max-length 16384 \\
        --out runs/sft-qwen3

Without ``--model`` the model is a 2-layer Qwen2 built from a config (random weights) with a byte-level BPE
tokenizer trained here on the samples and TRL's qwen2_5 chat template, so it runs on a CPU without downloads.
The samples' ``tools`` are rendered by the chat template; the loss covers the assistant turns only when the
template marks them (``--assistant-only-loss``, default on for the tiny model, which uses TRL's training
template for qwen2_5).
"""

from __future__ import annotations

import argparse
import json
import math
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


def tiny_tokenizer(dataset: Any, vocab_size: int = 4096) -> Any:
    """A tokenizer trained on the samples' messages and tool schemas."""
    from harness.integrations.tiny_lm import train_chat_tokenizer

    texts = []
    for row in dataset:
        texts.append(json.dumps(row["messages"], ensure_ascii=False))
        texts.append(json.dumps(row["tools"], ensure_ascii=False))
    return train_chat_tokenizer(texts, vocab_size=vocab_size)


def train_sft(
    data: str | Path,
    out: str | Path,
    *,
    model: str | None = None,
    steps: int = 2,
    max_length: int | None = 2048,
    batch_size: int = 1,
    learning_rate: float = 1e-3,
    assistant_only_loss: bool | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run ``steps`` SFT steps on the distilled samples in ``data``; returns the per-step log and the trainer."""
    from trl import SFTConfig, SFTTrainer

    from harness.integrations.tiny_lm import tiny_qwen2
    from harness.integrations.trl import sft_dataset

    dataset = sft_dataset(data)
    if model is None:
        tokenizer = tiny_tokenizer(dataset)
        policy: Any = tiny_qwen2(tokenizer, seed=seed)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model)
        policy = AutoModelForCausalLM.from_pretrained(model)
    config = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        max_length=max_length,
        assistant_only_loss=model is None if assistant_only_loss is None else assistant_only_loss,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=model is None or not accelerator_available(),
        disable_tqdm=True,
        seed=seed,
    )
    trainer = SFTTrainer(model=policy, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    log = [h for h in trainer.state.log_history if "loss" in h]
    return {"log": log, "trainer": trainer, "samples": len(dataset)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="Distilled samples (prgym distill --out).")
    parser.add_argument("--out", required=True, help="Trainer output directory.")
    parser.add_argument("--model", default=None, help="A model id or path; default: a tiny random Qwen2.")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument(
        "--max-length", type=int, default=2048, help="Tokens per sample (longer ones are cut)."
    )
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--assistant-only-loss", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = train_sft(
        args.data,
        args.out,
        model=args.model,
        steps=args.steps,
        max_length=args.max_length,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        assistant_only_loss=args.assistant_only_loss,
        seed=args.seed,
    )
    print(f"{result['samples']} samples")
    print(f"{'step':>4} {'loss':>9} {'token acc':>9}")
    for step, entry in enumerate(result["log"], 1):
        print(f"{step:>4} {entry['loss']:>9.4f} {entry.get('mean_token_accuracy', math.nan):>9.3f}")
    print(json.dumps({"samples": result["samples"], "loss": [h["loss"] for h in result["log"]]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
