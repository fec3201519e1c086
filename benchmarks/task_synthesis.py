"""Task synthesis benchmark: speed and acceptance of ShoppingBench-style synthesis, and three reference
policies' ASR on the synthesized suite, in one run.

On the small combined shared catalog (Best Buy, WebMall, ShoppingBench, Amazon.in; ~14k products):

- tasks/s per intent (template writer; the catalog pool is built once and timed separately), acceptance rate
  and rejection reasons, the distribution of ``meta.n_satisfying``;
- ASR per intent of the oracle (recommends the targets: must be 1.0), the scripted baseline and the random
  policy (the floor), every episode through the env (``prgym eval``'s runner).

    python benchmarks/task_synthesis.py                 # 400 tasks
    python benchmarks/task_synthesis.py --quick         # 60 tasks, under a minute
    python benchmarks/task_synthesis.py --catalog DIR   # reuse (or build once into) DIR

The last line printed is one JSON object: tasks_per_s, oracle_asr, scripted_asr, random_asr, accept_rate,
n_tasks, and the per-intent figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog_loader.build import build_snapshot  # noqa: E402
from catalog_loader.presets import preset  # noqa: E402
from harness.eval.policies import OraclePolicy, RandomPolicy  # noqa: E402
from harness.eval.runner import evaluate, summarize  # noqa: E402
from harness.policies.scripted import ScriptedPolicy  # noqa: E402
from sandbox.catalog.lexical import TantivyBackend  # noqa: E402
from sandbox.tasks.synthesis import CatalogPool, SynthesisConfig, synthesize_tasks  # noqa: E402
from sandbox.tasks.taskset import TaskSet  # noqa: E402

PRESETS = ("bestbuy", "webmall", "shoppingbench", "amazon_in")
console = Console()


def _catalog(path: Path | None, data: Path) -> Path:
    if path is not None and (path / "manifest.json").is_file():
        return path
    out = path or Path(tempfile.mkdtemp(prefix="synth-bench-")) / "catalog"
    specs = [s for name in PRESETS for s in preset(name, data)]
    return build_snapshot(specs, out).snapshot_dir


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--catalog", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n-tasks", type=int, default=400)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = 60 if args.quick else args.n_tasks
    counts = {"product": n - 2 * (n // 3), "shop": n // 3, "voucher": n // 3}

    snapshot = _catalog(args.catalog, args.data)
    backend = TantivyBackend(snapshot)
    started = time.perf_counter()
    pool = CatalogPool.from_store(backend.snapshot.store)
    pool_s = time.perf_counter() - started
    started = time.perf_counter()
    report = synthesize_tasks(backend, SynthesisConfig(counts=counts, seed=args.seed), pool=pool)
    synth_s = time.perf_counter() - started
    tasks = TaskSet(report.tasks)

    per_intent: dict[str, dict[str, float]] = {}
    for intent, count in report.accepted.items():
        per_intent[intent] = {
            "tasks_per_s": count / report.seconds[intent] if report.seconds[intent] else 0.0,
            "accept_rate": count / report.attempts[intent] if report.attempts[intent] else 0.0,
        }
    n_sat = np.array([t.meta["n_satisfying"] for t in report.tasks])

    policies = {
        "oracle": lambda task, seed: OraclePolicy(task),
        "scripted": lambda task, seed: ScriptedPolicy(),
        "random": lambda task, seed: RandomPolicy(task, seed),
    }
    asr: dict[str, dict[str, float]] = {}
    eval_s: dict[str, float] = {}
    for name, maker in policies.items():
        started = time.perf_counter()
        scores = asyncio.run(evaluate(snapshot, tasks, maker, seed=args.seed, concurrency=4))
        eval_s[name] = time.perf_counter() - started
        summary = summarize(scores, 1)
        asr[name] = {intent: s.asr for intent, s in summary.items()}
        for intent, s in summary.items():
            if intent != "all":
                per_intent[intent][f"{name}_asr"] = s.asr
                per_intent[intent][f"{name}_car"] = s.car

    table = Table(title=f"task synthesis on {len(pool)} products (snapshot {backend.snapshot_id[:12]})")
    for col in (
        "intent",
        "tasks",
        "tasks/s",
        "accept",
        "oracle ASR",
        "scripted ASR",
        "scripted CAR",
        "random ASR",
    ):
        table.add_column(col, justify="left" if col == "intent" else "right")
    for intent, f in per_intent.items():
        table.add_row(
            intent, str(report.accepted[intent]), f"{f['tasks_per_s']:.1f}", f"{f['accept_rate']:.2f}",
            f"{f['oracle_asr']:.3f}", f"{f['scripted_asr']:.3f}", f"{f['scripted_car']:.3f}", f"{f['random_asr']:.3f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"rejections: {report.rejections}")
    quantiles = (
        {q: float(np.quantile(n_sat, q / 100)) for q in (0, 25, 50, 75, 90, 100)} if len(n_sat) else {}
    )
    console.print(
        f"n_satisfying quantiles (0/25/50/75/90/100%): {quantiles}; share 0: {float((n_sat == 0).mean()):.2f}"
    )
    console.print(f"pool build {pool_s:.2f}s; synthesis {synth_s:.2f}s; eval seconds {eval_s}")
    console.print("Measured on a shared 2-core machine under load from other jobs.")
    result = {
        "n_tasks": len(report.tasks),
        "tasks_per_s": len(report.tasks) / synth_s if synth_s else 0.0,
        "accept_rate": report.accept_rate,
        "oracle_asr": asr["oracle"]["all"],
        "scripted_asr": asr["scripted"]["all"],
        "random_asr": asr["random"]["all"],
        "per_intent": per_intent,
        "n_satisfying_quantiles": quantiles,
        "rejections": report.rejections,
        "pool_build_s": pool_s,
        "snapshot_id": backend.snapshot_id,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
