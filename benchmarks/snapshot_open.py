"""Snapshot integrity benchmark: what the checks at open cost, beside opening without them, and a full verify.

Measured in one run on the same snapshot (files warm in the page cache, as after a build or a first episode):
- opening ``Snapshot`` (manifest + product store) with no integrity check at all: the baseline;
- with sizes only (hash budget 0), with the default checks (sizes + SHA-256 of the smallest files up to
  ``OPEN_HASH_BUDGET_BYTES``), with every file hashed, and a second open in the same process (remembered);
- the lexical backend open (``TantivyBackend``) with the default checks, what an env pays;
- ``prgym catalog verify`` (``verify_snapshot``): every checksum, SQLite quick_check, every record, the id.

    python benchmarks/snapshot_open.py --quick              # ~15k products built here, under a minute
    python benchmarks/snapshot_open.py                      # every shared catalog (~134k products) built here
    python benchmarks/snapshot_open.py --catalog snapshots/combined   # an existing snapshot

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.catalog import integrity  # noqa: E402
from sandbox.catalog import snapshot as snapshot_module  # noqa: E402
from sandbox.catalog.lexical import TantivyBackend  # noqa: E402
from sandbox.catalog.snapshot import Snapshot  # noqa: E402

console = Console(width=120)
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
QUICK_PRESETS = ("bestbuy", "webmall", "shoppingbench", "amazon_in")


def build(data: Path, out: Path, quick: bool) -> Path:
    from catalog_loader.build import build_snapshot
    from catalog_loader.presets import SHARED_PRESETS, preset

    names = QUICK_PRESETS if quick else SHARED_PRESETS
    specs = [spec for name in names for spec in preset(name, data)]
    return build_snapshot(specs, out).snapshot_dir


def median_ms(fn: Callable[[], Any], repeats: int, before: Callable[[], None] = lambda: None) -> float:
    times = []
    for _ in range(repeats):
        before()
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(snapshot: Path, repeats: int) -> dict[str, Any]:
    manifest = Snapshot(snapshot).manifest
    if not manifest.files:
        raise SystemExit(f"{snapshot} records no checksums (built by an older prgym); rebuild it first")
    forget = integrity._checked.clear
    budget = integrity.OPEN_HASH_BUDGET_BYTES
    original_check = snapshot_module.check_on_open
    figures: dict[str, Any] = {
        "snapshot": str(snapshot),
        "n_products": manifest.n_products,
        "n_files": len(manifest.files),
        "snapshot_mb": round(sum(f.size for f in manifest.files.values()) / 1e6, 1),
        "open_hash_budget_mb": round(budget / 1e6, 1),
        "repeats": repeats,
    }
    sizes = sorted(f.size for f in manifest.files.values())
    hashed, total = 0, 0
    for size in sizes:
        if total + size > budget:
            break
        total += size
        hashed += 1
    figures["open_files_hashed"] = hashed
    figures["open_mb_hashed"] = round(total / 1e6, 2)

    def open_snapshot() -> None:
        Snapshot(snapshot)

    try:
        snapshot_module.check_on_open = lambda *args: None
        figures["open_ms_no_checks"] = median_ms(open_snapshot, repeats)
    finally:
        snapshot_module.check_on_open = original_check
    try:
        integrity.OPEN_HASH_BUDGET_BYTES = 0
        figures["open_ms_sizes_only"] = median_ms(open_snapshot, repeats, forget)
        integrity.OPEN_HASH_BUDGET_BYTES = 1 << 62
        figures["open_ms_full_hash"] = median_ms(open_snapshot, max(3, repeats // 5), forget)
    finally:
        integrity.OPEN_HASH_BUDGET_BYTES = budget
    figures["open_ms_default"] = median_ms(open_snapshot, repeats, forget)
    figures["open_ms_cached"] = median_ms(open_snapshot, repeats)
    figures["backend_open_ms_default"] = median_ms(
        lambda: TantivyBackend(snapshot), max(3, repeats // 5), forget
    )
    figures["open_overhead_ms_default"] = round(figures["open_ms_default"] - figures["open_ms_no_checks"], 3)
    started = time.perf_counter()
    report = integrity.verify_snapshot(snapshot)
    figures["verify_seconds"] = round(time.perf_counter() - started, 3)
    figures["verify_ok"] = report.ok
    for key, value in list(figures.items()):
        if key.endswith("_ms") or "_ms_" in key:
            figures[key] = round(value, 3)
    return figures


def show(figures: dict[str, Any]) -> None:
    table = Table(
        title=f"opening {figures['snapshot']} ({figures['n_products']:,} products, {figures['n_files']} files, "
        f"{figures['snapshot_mb']} MB; median of {figures['repeats']})"
    )
    table.add_column("what")
    table.add_column("ms", justify="right")
    rows = [
        ("open, no integrity check (baseline)", "open_ms_no_checks"),
        ("open, sizes only", "open_ms_sizes_only"),
        (
            f"open, default: sizes + SHA-256 of {figures['open_files_hashed']} files "
            f"({figures['open_mb_hashed']} MB, budget {figures['open_hash_budget_mb']} MB)",
            "open_ms_default",
        ),
        ("open, every file hashed", "open_ms_full_hash"),
        ("open again in the same process (remembered)", "open_ms_cached"),
        ("TantivyBackend open, default checks", "backend_open_ms_default"),
    ]
    for label, key in rows:
        table.add_row(label, f"{figures[key]:,.2f}")
    table.add_row("prgym catalog verify (everything)", f"{figures['verify_seconds'] * 1000:,.0f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="A ~15k-product snapshot, under a minute.")
    parser.add_argument("--catalog", type=Path, help="Measure this snapshot instead of building one.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="The shared data directory.")
    parser.add_argument("--repeats", type=int, default=None, help="Opens per figure (default 20, quick 10).")
    args = parser.parse_args()
    repeats = args.repeats or (10 if args.quick else 20)
    with tempfile.TemporaryDirectory(prefix="prgym-open-bench-") as tmp:
        snapshot = args.catalog or build(args.data, Path(tmp) / "snapshot", args.quick)
        figures = run(snapshot, repeats)
        figures["quick"] = args.quick
        show(figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
