"""Catalog search benchmark: build throughput, query latency and recall on human relevance labels.

Measured in one run, side by side:
- prgym's tantivy backend over the 54,667 Home Depot titles: recall@10/@50 of judged products with relevance
  >= 2.5 (``homedepot/labels_dev.csv``) and query latency;
- the same titles and queries with ``bm25s`` and ``rank_bm25`` as baselines;
- the combined catalog of every shared dataset (~134k products): build throughput and latency with and
  without filters.
``--scale N`` instead measures a derived catalog of N products (real products plus seeded variants, labelled
``derived``): build throughput, latency and peak RSS.

    python benchmarks/catalog_search.py            # full run
    python benchmarks/catalog_search.py --quick    # under a minute
    python benchmarks/catalog_search.py --scale 1000000

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from derive_catalog import derived_products  # noqa: E402

from catalog_loader.build import build_snapshot, write_snapshot  # noqa: E402
from catalog_loader.presets import SHARED_PRESETS, preset  # noqa: E402
from sandbox.catalog.lexical import TantivyBackend  # noqa: E402
from sandbox.catalog.search import SearchFilters, SearchRequest, SortOrder  # noqa: E402
from sandbox.catalog.snapshot import Snapshot  # noqa: E402
from sandbox.catalog.sorted_search import SortedSearchPolicy  # noqa: E402

console = Console(stderr=False)
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def time_queries(run: Callable[[str], object], queries: Sequence[str], warmup: int = 20) -> list[float]:
    for q in queries[:warmup]:
        run(q)
    out = []
    for q in queries:
        started = time.perf_counter()
        run(q)
        out.append(time.perf_counter() - started)
    return out


def load_labels(path: Path) -> dict[str, set[str]]:
    """Query -> native product ids judged relevant (mean rating >= 2.5)."""
    relevant: dict[str, set[str]] = defaultdict(set)
    with path.open(encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            if float(row["relevance"]) >= 2.5:
                relevant[row["search_term"]].add(row["product_uid"])
    return dict(relevant)


def recall_at(ranked: dict[str, list[str]], relevant: dict[str, set[str]], k: int) -> float:
    """Mean over queries of |relevant in top k| / |relevant|."""
    scores = [len(set(ranked[q][:k]) & rel) / len(rel) for q, rel in relevant.items()]
    return float(np.mean(scores))


def random_filters(rng: random.Random, products_sample: list) -> SearchFilters:
    """A realistic filter drawn from a real product: its price band, brand or category."""
    p = rng.choice(products_sample)
    kind = rng.randrange(3)
    if kind == 0 and p.price is not None:
        return SearchFilters(price_min=float(p.price) * 0.5, price_max=float(p.price) * 1.5)
    if kind == 1 and p.category_path:
        return SearchFilters(category=p.category_path[0])
    if p.brand:
        return SearchFilters(brands=[p.brand])
    return SearchFilters(price_max=100.0)


def bench_homedepot(data: Path, work: Path, n_queries: int, n_rank_bm25: int) -> dict:
    result = build_snapshot(preset("homedepot", data), work / "homedepot")
    backend = TantivyBackend(result.snapshot_dir)
    relevant = load_labels(data / "homedepot" / "labels_dev.csv")
    queries = sorted(relevant)
    if n_queries < len(queries):
        queries = random.Random(0).sample(queries, n_queries)
    relevant = {q: relevant[q] for q in queries}
    ids = backend.snapshot.store.product_ids()
    native = {pid: pid.split(":", 1)[1] for pid in ids}

    ranked: dict[str, list[str]] = {}

    def ours(q: str) -> None:
        hits = backend.search(SearchRequest(query=q, page_size=50)).hits
        ranked[q] = [native[h.product_id] for h in hits]

    ours_times = time_queries(ours, queries)
    figures = {
        "recall_at_10": recall_at(ranked, relevant, 10),
        "recall_at_50": recall_at(ranked, relevant, 50),
        "homedepot_p50_ms": percentiles(ours_times)[0],
    }
    # Sorted search: the share of the 10 cheapest results judged relevant (unjudged = not relevant), with the
    # sorted-search rule (sandbox.catalog.sorted_search) and with the old behaviour (sort every match).
    before = TantivyBackend(result.snapshot_dir, sorted_policy=SortedSearchPolicy.off())
    for key, engine in (
        ("sorted_relevant_share_at_10", backend),
        ("sorted_relevant_share_at_10_before", before),
    ):
        shares = []
        for q in queries:
            hits = engine.search(SearchRequest(query=q, sort=SortOrder.price_asc, page_size=10)).hits
            shares.append(sum(native[h.product_id] in relevant[q] for h in hits) / 10)
        figures[key] = float(np.mean(shares))
    before_ranked = {
        q: [native[h.product_id] for h in before.search(SearchRequest(query=q, page_size=10)).hits]
        for q in queries
    }
    figures["recall_at_10_before"] = recall_at(
        before_ranked, relevant, 10
    )  # relevance order: must not change

    # Baselines over exactly the same texts (the stored titles) and queries.
    titles = [p.title for _, p in backend.snapshot.store.iter_products()]
    uids = [native[pid] for pid in ids]
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(titles, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False
    )
    bm25s_ranked: dict[str, list[str]] = {}

    def run_bm25s(q: str) -> None:
        tokens = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
        if not tokens.vocab:
            bm25s_ranked[q] = []
            return
        docs, _ = retriever.retrieve(tokens, k=50, show_progress=False, n_threads=1)
        bm25s_ranked[q] = [uids[i] for i in docs[0]]

    bm25s_times = time_queries(run_bm25s, queries)
    figures["bm25s_recall_at_10"] = recall_at(bm25s_ranked, relevant, 10)
    figures["bm25s_recall_at_50"] = recall_at(bm25s_ranked, relevant, 50)
    figures["bm25s_p50_ms"] = percentiles(bm25s_times)[0]

    from rank_bm25 import BM25Okapi

    def simple_tokens(text: str) -> list[str]:
        return [stemmer.stemWord(t) for t in "".join(c if c.isalnum() else " " for c in text.lower()).split()]

    okapi = BM25Okapi([simple_tokens(t) for t in titles])
    rank_queries = queries[:n_rank_bm25]
    okapi_ranked: dict[str, list[str]] = {}

    def run_okapi(q: str) -> None:
        scores = okapi.get_scores(simple_tokens(q))
        top = np.argsort(-scores, kind="stable")[:50]
        okapi_ranked[q] = [uids[i] for i in top]

    okapi_times = time_queries(run_okapi, rank_queries, warmup=2)
    okapi_relevant = {q: relevant[q] for q in rank_queries}
    figures["rank_bm25_p50_ms"] = percentiles(okapi_times)[0]
    figures["rank_bm25_recall_at_10"] = recall_at(okapi_ranked, okapi_relevant, 10)
    figures["rank_bm25_recall_at_50"] = recall_at(okapi_ranked, okapi_relevant, 50)
    figures["ours_recall_at_10_on_rank_bm25_queries"] = recall_at(ranked, okapi_relevant, 10)
    figures["homedepot_queries"] = len(queries)
    figures["rank_bm25_queries"] = len(rank_queries)
    figures["homedepot_build_products_per_s"] = result.products_per_second
    return figures


def latency_queries(data: Path, n: int) -> list[str]:
    """Real shopping queries from three sources: Home Depot search terms, WANDS and Algolia suggestions."""
    queries = sorted(load_labels(data / "homedepot" / "labels_dev.csv"))
    with (data / "queries" / "wands_queries.csv").open(encoding="utf-8") as f:
        queries += [row["query"] for row in csv.DictReader(f, delimiter="\t")]
    queries += [
        q["query"] for q in json.loads((data / "queries" / "algolia_query_suggestions.json").read_text())
    ]
    rng = random.Random(1)
    rng.shuffle(queries)
    return queries[:n]


def bench_latency(backend: TantivyBackend, queries: list[str]) -> dict:
    sample = [p for _, p in itertools.islice(backend.snapshot.store.iter_products(), 0, None, 7)]
    rng = random.Random(2)
    filters = [random_filters(rng, sample) for _ in queries]
    plain = time_queries(lambda q: backend.search(SearchRequest(query=q)), queries)
    pairs = dict(zip(queries, filters, strict=False))
    filtered = time_queries(lambda q: backend.search(SearchRequest(query=q, filters=pairs[q])), queries)
    sorted_ = time_queries(
        lambda q: backend.search(SearchRequest(query=q, sort=SortOrder.price_asc)), queries
    )
    p50, p99 = percentiles(plain)
    p50f, p99f = percentiles(filtered)
    return {
        "p50_ms": p50,
        "p99_ms": p99,
        "p50_ms_filtered": p50f,
        "p99_ms_filtered": p99f,
        "p50_ms_price_sort": percentiles(sorted_)[0],
    }


def run_default(args: argparse.Namespace, work: Path) -> dict:
    quick = args.quick
    hd = bench_homedepot(
        args.data, work, n_queries=800 if quick else 100_000, n_rank_bm25=40 if quick else 300
    )
    presets = (
        ["amazon_in", "bestbuy", "webmall", "shoppingbench", "myntra"] if quick else list(SHARED_PRESETS)
    )
    specs = [s for name in presets for s in preset(name, args.data)]
    combined = build_snapshot(specs, work / "combined")
    backend = TantivyBackend(combined.snapshot_dir)
    lat = bench_latency(backend, latency_queries(args.data, 500 if quick else 3000))
    figures = {
        "n_products": combined.manifest.n_products,
        "build_products_per_s": combined.products_per_second,
        **lat,
        **hd,
        "peak_rss_mb": peak_rss_mb(),
        "quick": quick,
    }
    table = Table(title="catalog search (2-core machine)")
    for col in ("engine", "recall@10", "recall@50", "p50 ms", "notes"):
        table.add_column(col)
    table.add_row(
        "prgym tantivy",
        f"{hd['recall_at_10']:.3f}",
        f"{hd['recall_at_50']:.3f}",
        f"{hd['homedepot_p50_ms']:.2f}",
        f"{hd['homedepot_queries']} Home Depot queries",
    )
    table.add_row(
        "bm25s",
        f"{hd['bm25s_recall_at_10']:.3f}",
        f"{hd['bm25s_recall_at_50']:.3f}",
        f"{hd['bm25s_p50_ms']:.2f}",
        "same titles, stemmed + stopwords",
    )
    table.add_row(
        "rank_bm25",
        f"{hd['rank_bm25_recall_at_10']:.3f}",
        f"{hd['rank_bm25_recall_at_50']:.3f}",
        f"{hd['rank_bm25_p50_ms']:.2f}",
        f"first {hd['rank_bm25_queries']} queries only "
        f"(prgym r@10 on them: {hd['ours_recall_at_10_on_rank_bm25_queries']:.3f})",
    )
    console.print(table)
    ratio = hd["sorted_relevant_share_at_10"] / max(hd["sorted_relevant_share_at_10_before"], 1e-9)
    console.print(
        f"sorted search (price_asc), share of the top 10 judged relevant: "
        f"{hd['sorted_relevant_share_at_10']:.3f} with the relevant-matches rule vs "
        f"{hd['sorted_relevant_share_at_10_before']:.3f} sorting every match ({ratio:.1f}x; target >= 2x); "
        f"relevance recall@10 {hd['recall_at_10']:.3f} vs {hd['recall_at_10_before']:.3f} before"
    )
    t2 = Table(title=f"combined catalog: {combined.manifest.n_products:,} products from {', '.join(presets)}")
    for col in ("build products/s", "p50 ms", "p99 ms", "p50 filtered", "p99 filtered", "p50 price sort"):
        t2.add_column(col)
    t2.add_row(
        f"{figures['build_products_per_s']:,.0f}",
        f"{lat['p50_ms']:.2f}",
        f"{lat['p99_ms']:.2f}",
        f"{lat['p50_ms_filtered']:.2f}",
        f"{lat['p99_ms_filtered']:.2f}",
        f"{lat['p50_ms_price_sort']:.2f}",
    )
    console.print(t2)
    console.print("targets: p50 <= 2 ms, build >= 10k products/s, recall@10/@50 >= bm25s")
    return figures


def run_scale(args: argparse.Namespace, work: Path) -> dict:
    specs = [s for name in SHARED_PRESETS for s in preset(name, args.data)]
    real = build_snapshot(specs, work / "real")
    base = [p for _, p in Snapshot(real.snapshot_dir).store.iter_products()]
    console.print(f"deriving {args.scale:,} products from {len(base):,} real ones (source 'derived')")
    manifest, load_s, index_s = write_snapshot(derived_products(base, args.scale, seed=0), work / "scaled")
    del base
    backend = TantivyBackend(work / "scaled")
    lat = bench_latency(backend, latency_queries(args.data, 2000))
    figures = {
        "n_products": manifest.n_products,
        "derived": True,
        "build_products_per_s": manifest.n_products / (load_s + index_s),
        **lat,
        "peak_rss_mb": peak_rss_mb(),
    }
    table = Table(
        title=f"derived scale-up catalog: {manifest.n_products:,} products (real + seeded variants)"
    )
    for col in ("build products/s", "p50 ms", "p99 ms", "p50 filtered", "p99 filtered", "peak RSS MB"):
        table.add_column(col)
    table.add_row(
        f"{figures['build_products_per_s']:,.0f}",
        f"{lat['p50_ms']:.2f}",
        f"{lat['p99_ms']:.2f}",
        f"{lat['p50_ms_filtered']:.2f}",
        f"{lat['p99_ms_filtered']:.2f}",
        f"{figures['peak_rss_mb']:,.0f}",
    )
    console.print(table)
    console.print("targets: p50 <= 10 ms, p99 <= 50 ms, peak RSS <= 3 GB")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description="Catalog search benchmark (see the module docstring).")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder with the shared datasets.")
    parser.add_argument("--quick", action="store_true", help="A smaller run (under a minute).")
    parser.add_argument(
        "--scale", type=int, default=0, help="Measure a derived catalog of this many products."
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="Where snapshots are built (default: temp)."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prgym-bench-") as tmp:
        work = args.work_dir or Path(tmp)
        figures = run_scale(args, work) if args.scale else run_default(args, work)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
