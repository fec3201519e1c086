"""Elasticsearch backend benchmark: indexing throughput and query latency beside the embedded backend.

On one snapshot, in one run: ``prgym catalog push`` throughput into a live cluster (docs/s, a fresh index per
run under the alias ``prgym-bench``), then the same lexical requests (plain, filtered, sorted, deep page) on
``TantivyBackend`` and ``ElasticsearchBackend``: p50/p99 latency in ms and whether both return the same total.
Without a reachable cluster it says so and skips (exit code 0; the JSON line has ``"skipped": true``).

    docker/make-env.sh && docker compose -f docker/docker-compose.yml up -d --wait
    set -a; . docker/.env; set +a
    python benchmarks/es_backend.py --es http://localhost:9200 --catalog snapshots/combined
    python benchmarks/es_backend.py --quick          # the small real catalog, 200 queries (under a minute)

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.catalog import SearchFilters, SearchRequest, SortOrder  # noqa: E402
from sandbox.catalog.lexical import TantivyBackend  # noqa: E402
from sandbox.catalog.snapshot import Snapshot  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
BENCH_ALIAS = "prgym-bench"
console = Console()


def _snapshot(args: argparse.Namespace, work: Path) -> Path:
    if args.catalog is not None:
        return args.catalog
    from catalog_loader.build import build_snapshot
    from catalog_loader.presets import preset

    names = ("bestbuy", "webmall", "shoppingbench", "amazon_in")
    specs = [spec for name in names for spec in preset(name, args.data)]
    return build_snapshot(specs, work / "small").snapshot_dir


def _requests(snapshot: Snapshot, n: int, seed: int) -> list[SearchRequest]:
    rng = random.Random(seed)
    products = [p for _, p in snapshot.store.iter_products()]
    words = sorted({w.lower() for p in products[::13] for w in p.title.split() if w.isalpha() and len(w) > 3})
    sources = sorted({p.source for p in products})
    out = []
    for i in range(n):
        query = " ".join(rng.sample(words, 2))
        kind = i % 4
        if kind == 0:
            out.append(SearchRequest(query=query))
        elif kind == 1:
            out.append(
                SearchRequest(query=query, filters=SearchFilters(price_max=200, source=rng.choice(sources)))
            )
        elif kind == 2:
            out.append(SearchRequest(query=query, sort=SortOrder.price_asc))
        else:
            out.append(
                SearchRequest(query="", filters=SearchFilters(min_rating=4.0), page=rng.randint(1, 50))
            )
    return out


def _latency(backend, requests: list[SearchRequest]) -> tuple[list[float], list[int]]:
    backend.search(requests[0])  # warm up
    times, totals = [], []
    for request in requests:
        started = time.perf_counter()
        totals.append(backend.search(request).total)
        times.append((time.perf_counter() - started) * 1000)
    return times, totals


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Elasticsearch backend benchmark (see the module docstring)."
    )
    parser.add_argument(
        "--es", default=os.environ.get("PRGYM_ES_URL"), help="Cluster URL (default $PRGYM_ES_URL)."
    )
    parser.add_argument(
        "--catalog", type=Path, default=None, help="Snapshot (default: build the small real one)."
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="Shared datasets (for the default catalog)."
    )
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--quick", action="store_true", help="200 queries (under a minute with a local cluster)."
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.queries = 200

    skipped = {"benchmark": "es_backend", "skipped": True}
    if not args.es:
        console.print("[yellow]no Elasticsearch cluster given (--es URL or PRGYM_ES_URL): skipping")
        print(json.dumps(skipped | {"reason": "no cluster URL"}))
        return
    from sandbox.catalog.elasticsearch import EsBackendError, EsSettings, make_client

    settings = EsSettings.from_env(args.es, alias=BENCH_ALIAS)
    client = make_client(settings)
    try:
        version = client.info()["version"]["number"]
    except Exception as exc:  # any failure to talk to the cluster means there is nothing to measure
        console.print(
            f"[yellow]Elasticsearch at {args.es} is not reachable ({type(exc).__name__}: {exc}): skipping"
        )
        print(json.dumps(skipped | {"reason": f"cluster not reachable at {args.es}"}))
        return

    from sandbox.catalog.elasticsearch import ElasticsearchBackend, index_name, push_snapshot

    with tempfile.TemporaryDirectory() as tmp:
        snap_dir = _snapshot(args, Path(tmp))
        snapshot = Snapshot(snap_dir)
        index = index_name(BENCH_ALIAS, snapshot.snapshot_id)
        client.options(ignore_status=404).indices.delete(index=index)  # measure a fresh push every run
        report = push_snapshot(snap_dir, settings, client=client, progress=True)
        if not report.complete:
            raise EsBackendError(
                f"push incomplete: {len(report.failures)} failures, first: {report.failures[:3]}"
            )
        requests = _requests(snapshot, args.queries, args.seed)
        embedded_ms, embedded_totals = _latency(TantivyBackend(snap_dir), requests)
        es_ms, es_totals = _latency(
            ElasticsearchBackend(settings, snapshot_id=snapshot.snapshot_id), requests
        )

    agree = float(np.mean([a == b for a, b in zip(embedded_totals, es_totals, strict=True)]))
    figures = {
        "benchmark": "es_backend",
        "skipped": False,
        "es_version": version,
        "n_products": len(snapshot),
        "index_docs_per_s": round(report.docs_per_second, 1),
        "index_seconds": round(report.seconds, 2),
        "queries": len(requests),
        "embedded_p50_ms": float(np.percentile(embedded_ms, 50)),
        "embedded_p99_ms": float(np.percentile(embedded_ms, 99)),
        "es_p50_ms": float(np.percentile(es_ms, 50)),
        "es_p99_ms": float(np.percentile(es_ms, 99)),
        "total_agreement": agree,
    }
    table = Table(title=f"{len(snapshot):,} products, {len(requests)} requests, Elasticsearch {version}")
    for column in ("backend", "p50 ms", "p99 ms"):
        table.add_column(column)
    table.add_row(
        "embedded (tantivy)", f"{figures['embedded_p50_ms']:.2f}", f"{figures['embedded_p99_ms']:.2f}"
    )
    table.add_row("elasticsearch", f"{figures['es_p50_ms']:.2f}", f"{figures['es_p99_ms']:.2f}")
    console.print(table)
    console.print(
        f"indexing: {report.indexed:,} docs in {report.seconds:.1f} s ({report.docs_per_second:,.0f} docs/s); "
        f"same total on both backends for {agree:.1%} of requests"
    )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
