"""Write JSONL task sets with train / eval / test splits.

    python -m sandbox.tasks generate --snapshot DIR --n 500 --seed 0 --out research.jsonl
    python -m sandbox.tasks shoppingbench --src ../shared/data/shoppingbench --out shopping.jsonl

Splits are assigned by hashing ``split-seed:task_id`` (``--fractions`` for train, eval, test), so they stay
stable when the set grows. Generated tasks come from the catalog itself (see :mod:`sandbox.tasks.generator`).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track

from sandbox.tasks.generator import generate_research_task
from sandbox.tasks.taskset import TaskSet, load_tasks

console = Console()


def _fractions(text: str) -> tuple[float, float, float]:
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"--fractions needs three numbers (train,eval,test), got {text!r}")
    return parts[0], parts[1], parts[2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.tasks", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="Generate research tasks from a catalog snapshot.")
    gen.add_argument("--snapshot", type=Path, required=True, help="Catalog snapshot directory.")
    gen.add_argument("--n", type=int, default=100, help="Number of tasks.")
    gen.add_argument("--seed", type=int, default=0, help="Generator seed.")
    gen.add_argument("--min-products", type=int, default=3, help="Products each report must cite.")
    sb = sub.add_parser("shoppingbench", help="Convert ShoppingBench JSONL files into a task set.")
    sb.add_argument("--src", type=Path, required=True, help="A synthesize_*.jsonl file or their directory.")
    for command in (gen, sb):
        command.add_argument("--out", type=Path, required=True, help="Output JSONL task set.")
        command.add_argument("--fractions", type=_fractions, default=(0.8, 0.1, 0.1), help="train,eval,test")
        command.add_argument("--split-seed", type=int, default=0, help="Seed of the split assignment.")
    args = parser.parse_args(argv)
    if args.command == "generate":
        from sandbox.env.shared import shared_backend

        backend = shared_backend(args.snapshot)
        rng = np.random.default_rng(args.seed)
        tasks = TaskSet(
            generate_research_task(
                backend, rng, task_id=f"gen-{args.seed}-{i:05d}", min_products=args.min_products
            )
            for i in track(range(args.n), description="generating tasks", console=console)
        )
    else:
        tasks = load_tasks(args.src)
    tasks = tasks.with_splits(seed=args.split_seed, fractions=args.fractions)
    path = tasks.save(args.out)
    counts = Counter(t.split for t in tasks)
    console.print(
        f"wrote {len(tasks)} tasks to {path} ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})"
    )


if __name__ == "__main__":
    main()
