"""Fine-tune the dense encoder on judged (query, product) pairs from the *tuning* half of the Home Depot labels.

Domain adaptation is the one lever the issue-19 encoders left: MiniLM and all-mpnet-base-v2 both stop at ~0.49
hybrid recall@10 because their dense side ranks product titles against shopping queries poorly (dense recall@10
0.35-0.36 against 0.47 for BM25). Training on pairs whose queries come only from the tuning half
(``crc32(query) % 2 == 0``) keeps the held-out half, the one every figure is reported on, unseen.

Recipe: sentence-transformers' trainer, ``MultipleNegativesRankingLoss`` (the other products of a batch are the
negatives) with batches free of duplicate texts, one epoch, lr 5e-5, 10% warm-up, seed 0. The result is a plain
sentence-transformers directory: ``prgym catalog build --dense --dense-model DIR`` embeds with it (int8 ONNX by
default, exported from it like from any local model).

    python benchmarks/finetune_encoder.py --out models/minilm-homedepot     # ~5 min on an idle 2-core machine

The model is written aside and moved into place when complete, and a finished one is reused (``finetune.json``
records what it was trained from); an interrupted run starts its (minutes-long) training again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox.catalog.dense.embedder import default_model_path, model_fingerprint  # noqa: E402
from sandbox.catalog.dense.text import product_text  # noqa: E402
from sandbox.catalog.product import Product  # noqa: E402

SEED = 0
EPOCHS = 1.0
LEARNING_RATE = 5e-5
BATCH_SIZE = 64
RECORD = "finetune.json"


def training_pairs(
    products: Mapping[str, Product],
    relevant: Mapping[str, set[str]],
    include: Callable[[str], bool],
    seed: int = SEED,
) -> list[tuple[str, str]]:
    """(query, product text) for every judged-relevant product of the queries ``include`` admits, seeded order."""
    pairs = [
        (query, product_text(products[pid]))
        for query in sorted(relevant)
        if include(query)
        for pid in sorted(relevant[query])
        if pid in products
    ]
    random.Random(seed).shuffle(pairs)
    return pairs


def recipe(base: Path, pairs: list[tuple[str, str]], epochs: float, lr: float, seed: int) -> dict:
    """What a fine-tuned model is a function of: a finished model with the same record is reused."""
    digest = hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode()).hexdigest()[:16]
    return {
        "base_fingerprint": model_fingerprint(base),
        "pairs": len(pairs),
        "pairs_sha256": digest,
        "loss": "MultipleNegativesRankingLoss",
        "epochs": epochs,
        "learning_rate": lr,
        "batch_size": BATCH_SIZE,
        "seed": seed,
    }


def finetune(
    pairs: list[tuple[str, str]],
    out: Path,
    *,
    base: Path | None = None,
    epochs: float = EPOCHS,
    lr: float = LEARNING_RATE,
    seed: int = SEED,
) -> Path:
    """Train ``base`` (default: the packaged MiniLM) on ``pairs`` into ``out``; reuse ``out`` if it is this recipe."""
    base = base or default_model_path()
    wanted = recipe(base, pairs, epochs, lr, seed)
    record = out / RECORD
    if record.is_file() and json.loads(record.read_text(encoding="utf-8")) == wanted:
        return out
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )
    from sentence_transformers.training_args import BatchSamplers
    from transformers import set_seed

    set_seed(seed)
    torch.manual_seed(seed)
    staging = out.with_name(out.name + ".training")
    shutil.rmtree(staging, ignore_errors=True)
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    data = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [t for _, t in pairs]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(staging / "trainer"),
        num_train_epochs=epochs,
        per_device_train_batch_size=BATCH_SIZE,
        learning_rate=lr,
        warmup_steps=0.1,  # a float is the warm-up ratio (transformers 5)
        seed=seed,
        data_seed=seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # a repeated query or title in a batch is a false negative
        logging_steps=max(1, len(pairs) // BATCH_SIZE // 10),
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data, loss=losses.MultipleNegativesRankingLoss(model)
    )
    trainer.train()
    shutil.rmtree(staging / "trainer", ignore_errors=True)
    model.save(str(staging))
    (staging / RECORD).write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    staging.replace(out)
    return out


def homedepot_tuning_pairs(data: Path) -> list[tuple[str, str]]:
    """The benchmark's pairs: judged-relevant Home Depot products of the tuning-half queries."""
    from retrieval_quality import held_out, homedepot_products, load_labels

    products = {p.product_id: p for p in homedepot_products(data)}
    relevant = load_labels(data / "homedepot" / "labels_dev.csv")
    return training_pairs(products, relevant, lambda query: not held_out(query))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where the fine-tuned model is written")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--epochs", type=float, default=EPOCHS)
    parser.add_argument("--lr", type=float, default=LEARNING_RATE)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    if not (args.data / "homedepot" / "labels_dev.csv").is_file():
        parser.error(f"--data: {args.data} has no homedepot/labels_dev.csv")
    pairs = homedepot_tuning_pairs(args.data)
    print(f"{len(pairs):,} (query, product) pairs from the tuning half", file=sys.stderr)
    out = finetune(pairs, args.out, epochs=args.epochs, lr=args.lr, seed=args.seed)
    print(json.loads((out / RECORD).read_text(encoding="utf-8")) | {"model": str(out)})


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
