"""Retrieval quality and speed of lexical, dense and hybrid search, on human relevance labels.

Measured in one run, side by side:
- recall@10 / recall@50 of the judged products with relevance >= 2.5 (``homedepot/labels_dev.csv``) when searching
  all 54,667 Home Depot titles, for prgym's lexical (tantivy BM25), dense (all-MiniLM-L6-v2 + FAISS) and hybrid
  modes, with ``bm25s`` (plain, and with a stemmer) and the naive pipeline (plain bm25s + the same dense ranking
  + RRF(60)) as baselines;
- figures are reported on the held-out half of the queries: fusion settings were chosen on the other half
  (the split is by a hash of the query text; ``--tune`` reruns that search and prints the grid);
- encode throughput, and query latency p50/p99 per mode (query encoding included, query cache off) at the real
  size and at ~130k products (the real titles plus derived variants, labelled ``derived``);
- ``--scale N``: a derived catalog of N products with the approximate (HNSW) index: recall of the approximate
  index against exact search at k=50, latency and peak RSS. Encoding a million texts on 2 cores takes hours, so
  derived products get **derived vectors** (their source product's embedding plus seeded noise); the output
  says so;
- ``--backends``: encoder configurations (``retrieval_backends.py``: ``[model:]index_backend[/query_backend]``,
  e.g. ``onnx-int8``, ``torch/onnx-int8``, ``mpnet:onnx-int8``) beside torch MiniLM, each with dense/hybrid
  recall on the held-out half (default fusion, and the fusion chosen on the tuning half), query-encode p50, build
  throughput on the same product texts and hybrid p50 at the latency scale, then the issue-19 targets. The
  latency catalog is built once per vector space (model + backend family): the search cost depends on the
  dimension and index parameters, not on which backend of the space embedded the products.

    python benchmarks/retrieval_quality.py             # full run (first run encodes 54,667 titles: ~5 min)
    python benchmarks/retrieval_quality.py --quick     # under a minute
    python benchmarks/retrieval_quality.py --scale 1000000

Embeddings are cached in ``--work-dir`` (default ``benchmarks/.cache/retrieval_quality``), so reruns encode
nothing. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from derive_catalog import derived_products  # noqa: E402
from finetune_encoder import finetune, training_pairs  # noqa: E402
from retrieval_backends import (  # noqa: E402
    BASELINE,
    DEFAULT_BACKENDS,
    FINETUNED,
    QUICK_BACKENDS,
    EncoderSetup,
    FusionChoice,
    best_setup,
    choose_fusion,
    default_setup,
    parse_setup,
    parse_setups,
    targets,
)

from catalog_loader.build import write_snapshot  # noqa: E402
from catalog_loader.load import iter_sources  # noqa: E402
from catalog_loader.presets import preset  # noqa: E402
from sandbox.catalog.dense import (  # noqa: E402
    DenseConfig,
    DenseSearchConfig,
    Embedder,
    FusionMethod,
    HybridBackend,
    build_dense_index,
    product_text,
    read_dense_manifest,
    resolve_model,
)
from sandbox.catalog.dense.embedding_cache import EmbeddingCache, text_keys, write_cache  # noqa: E402
from sandbox.catalog.dense.encoders import EncoderBackend  # noqa: E402
from sandbox.catalog.dense.fusion import fuse, rrf  # noqa: E402
from sandbox.catalog.dense.manifest import DENSE_DIRNAME, cache_model_key  # noqa: E402
from sandbox.catalog.product import Product  # noqa: E402
from sandbox.catalog.search import SearchFilters, SearchMode, SearchRequest  # noqa: E402
from sandbox.catalog.snapshot import Snapshot  # noqa: E402

console = Console(stderr=True)
out = Console() if sys.stdout.isatty() else Console(width=200)  # piped tables stay unwrapped
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_WORK = REPO / "benchmarks" / ".cache" / "retrieval_quality"
MODES = (SearchMode.lexical, SearchMode.dense, SearchMode.hybrid)
DERIVED_NOISE = (
    0.02  # per-dimension std of the noise added to a derived product's vector (cos to source ~0.93)
)
SEED = 0
RATE_ROUNDS, RATE_ROUNDS_QUICK = 3, 2  # interleaved build-throughput rounds per encoder (median kept)
QUICK_QUERIES, QUICK_FILL = 150, 3000  # --quick: judged queries sampled, and unjudged titles added to theirs


# -- helpers --------------------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ms_percentiles(samples: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def load_labels(path: Path) -> dict[str, set[str]]:
    """Query -> product ids (``homedepot:<uid>``) judged relevant (mean rating >= 2.5)."""
    relevant: dict[str, set[str]] = defaultdict(set)
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if float(row["relevance"]) >= 2.5:
                relevant[row["search_term"]].add(f"homedepot:{row['product_uid']}")
    return dict(relevant)


def held_out(query: str) -> bool:
    """The fixed split: fusion settings are tuned on the other half, figures are reported on this one."""
    return zlib.crc32(query.encode("utf-8")) % 2 == 1


def recall_at(
    ranked: dict[str, list[str]], relevant: dict[str, set[str]], queries: Sequence[str], k: int
) -> float:
    return float(np.mean([len(set(ranked[q][:k]) & relevant[q]) / len(relevant[q]) for q in queries]))


def copy_cache(snapshot_dir: Path, cache_dir: Path) -> None:
    """Keep a snapshot's embedding cache outside it (a snapshot rebuild replaces its directory)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in ("keys.npy", "vectors.npy", "cache.json"):
        shutil.copy2(snapshot_dir / DENSE_DIRNAME / name, cache_dir / name)


def has_dense(snapshot_dir: Path, count: int | None = None, model_key: str | None = None) -> bool:
    """A snapshot of ``count`` products embedded under ``model_key`` with today's default index parameters.

    When only the index parameters differ, the index is rebuilt in place from the snapshot's own vectors.
    """
    try:
        snapshot = Snapshot(snapshot_dir)
        manifest = read_dense_manifest(snapshot)
    except (FileNotFoundError, ValueError, RuntimeError):
        return False
    if count is not None and manifest.count != count:
        return False
    if model_key is not None and manifest.model_key != model_key:
        return False
    config = DenseConfig()
    wanted = (config.hnsw_m, config.hnsw_ef_construction, config.hnsw_ef_search)
    recorded = (manifest.index.hnsw_m, manifest.index.hnsw_ef_construction, manifest.index.hnsw_ef_search)
    if manifest.index.kind.value == "hnsw" and recorded != wanted:
        console.print(f"rebuilding the dense index of {snapshot_dir.name}: HNSW {recorded} -> {wanted}")
        rebuilt = build_dense_index(snapshot_dir, config)
        if rebuilt.texts_encoded:
            raise RuntimeError("an index rebuild must not encode anything")
    return True


# -- catalogs -------------------------------------------------------------------------------------------------------


def homedepot_products(data: Path) -> list[Product]:
    _, products = iter_sources(preset("homedepot", data))
    return sorted(products, key=lambda p: p.product_id)


def ensure_snapshot(
    products: list[Product],
    directory: Path,
    cache_dir: Path,
    embedder: Embedder,
    config: DenseConfig,
    *extra: Path,
) -> Path:
    """A snapshot of ``products`` with a dense index, reusing whatever was built or encoded before."""
    if has_dense(directory, len(products), embedder.cache_key):
        return directory
    console.print(f"[bold]building snapshot[/] {directory.name}: {len(products):,} products")
    write_snapshot(products, directory, show_progress=True)
    manifest = build_dense_index(directory, config, reuse_from=[cache_dir, *extra], embedder=embedder)
    console.print(f"  encoded {manifest.texts_encoded:,} texts, reused {manifest.reused:,} vectors")
    copy_cache(directory, cache_dir)
    return directory


def derived_catalog(base: list[Product], n: int) -> list[Product]:
    return list(derived_products(base, n, seed=SEED))


def write_derived_vectors(
    products: list[Product], base_snapshot: Path, model_key: str, cache_dir: Path
) -> tuple[int, float]:
    """Cache entries for the derived products: their source product's vector plus seeded Gaussian noise.

    Returns how many derived vectors were written and their mean cosine to the source vector.
    """
    base_ids = Snapshot(base_snapshot).store.product_ids()
    position = {pid: i for i, pid in enumerate(base_ids)}
    base_vectors = EmbeddingCache.open(base_snapshot / DENSE_DIRNAME)
    assert base_vectors is not None
    derived = [p for p in products if p.source == "derived"]
    sources = np.fromiter(
        (position[p.product_id.split("-", 1)[1]] for p in derived), dtype=np.int64, count=len(derived)
    )
    rng = np.random.default_rng(SEED)
    vectors = np.empty((len(derived), base_vectors.meta.dimension), dtype=np.float32)
    cosines = []
    for start in range(0, len(derived), 100_000):
        src = base_vectors.rows(sources[start : start + 100_000])
        noisy = src + rng.standard_normal(src.shape, dtype=np.float32) * DERIVED_NOISE
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        vectors[start : start + len(src)] = noisy
        cosines.append(np.sum(noisy * src, axis=1))
    keys = text_keys(model_key, (product_text(p) for p in derived))
    write_cache(cache_dir, model_key, keys, vectors, "float32")
    return len(derived), float(np.mean(np.concatenate(cosines)))


# -- measurements ---------------------------------------------------------------------------------------------------


def rank_modes(
    backend: HybridBackend, queries: Sequence[str], modes: Sequence[SearchMode] = MODES
) -> dict[str, dict[str, list[str]]]:
    """Top 50 product ids per query for every mode, through the backend's public search."""
    ranked: dict[str, dict[str, list[str]]] = {m.value: {} for m in modes}
    with console.status("ranking") as status:
        for i, q in enumerate(queries):
            for mode in modes:
                hits = backend.search(SearchRequest(query=q, mode=mode, page_size=50)).hits
                ranked[mode.value][q] = [h.product_id for h in hits]
            if i % 200 == 0:
                status.update(f"ranking queries {i:,}/{len(queries):,}")
    return ranked


def fusion_candidates(backend: HybridBackend, queries: Sequence[str], depth: int) -> dict[str, tuple]:
    """Per query: the BM25 list, the dense list and the query vector, for trying fusion settings offline."""
    candidates = {}
    for q in queries:
        vector = backend.query_vector(q)
        lexical, _ = backend.lexical.ranked(q, SearchFilters(), depth)
        lex_ords = backend._ords_of([h.product_id for h in lexical])
        lex_scores = np.asarray([h.score for h in lexical], dtype=np.float64)
        dense_scores, dense_ords = backend.index.search(vector, 50 + depth)
        candidates[q] = (lex_ords, lex_scores, dense_ords, dense_scores.astype(np.float64), vector)
    return candidates


def fused_rankings(
    backend: HybridBackend, candidates: dict[str, tuple], config: DenseSearchConfig
) -> dict[str, list[str]]:
    ranked = {}
    for q, (lex_ords, lex_scores, dense_ords, dense_scores, vector) in candidates.items():
        _, ords = fuse(
            config,
            lex_ords,
            lex_scores,
            dense_ords,
            dense_scores,
            lambda m, v=vector: backend.index.score(v, m).astype(np.float64),
        )
        ranked[q] = backend.product_ids[ords[:50]].tolist()
    return ranked


def tune(
    backend: HybridBackend,
    relevant: dict[str, set[str]],
    tune_queries: list[str],
    report_queries: list[str],
    candidates: dict[str, tuple] | None = None,
) -> list[tuple[str, float, float, float, float]]:
    """Fusion grid: recall on the tuning half (what chooses) and on the held-out half (what is reported)."""
    depth = backend.config.depth
    if candidates is None:
        candidates = fusion_candidates(backend, tune_queries + report_queries, depth)
    grid: list[DenseSearchConfig] = [
        DenseSearchConfig(fusion=FusionMethod.weighted, dense_weight=w, depth=depth)
        for w in (0.3, 0.4, 0.5, 0.55, 0.6, 0.7)
    ] + [DenseSearchConfig(fusion=FusionMethod.rrf, rrf_k=k, depth=depth) for k in (10, 30, 60)]
    rows = []
    for config in grid:
        ranked = fused_rankings(backend, candidates, config)
        name = (
            f"weighted w={config.dense_weight}"
            if config.fusion is FusionMethod.weighted
            else f"rrf k={config.rrf_k:g}"
        )
        rows.append(
            (
                name,
                recall_at(ranked, relevant, tune_queries, 10),
                recall_at(ranked, relevant, tune_queries, 50),
                recall_at(ranked, relevant, report_queries, 10),
                recall_at(ranked, relevant, report_queries, 50),
            )
        )
    return rows


def bm25s_rankings(products: list[Product], queries: Sequence[str], stem: bool) -> dict[str, list[str]]:
    import bm25s

    stemmer = None
    if stem:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
    ids = [p.product_id for p in products]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize([p.title for p in products], stemmer=stemmer, show_progress=False), show_progress=False
    )
    tokens = bm25s.tokenize(list(queries), stemmer=stemmer, show_progress=False)
    docs, scores = retriever.retrieve(tokens, k=50, show_progress=False, n_threads=1)
    return {
        q: [ids[d] for d, s in zip(docs[i], scores[i], strict=True) if s > 0] for i, q in enumerate(queries)
    }


def naive_hybrid(
    bm25_plain: dict[str, list[str]], dense: dict[str, list[str]], position: dict[str, int], ids: np.ndarray
) -> dict[str, list[str]]:
    """The reference pipeline: plain bm25s + dense (flat, exact) + RRF(60), both lists 50 deep."""
    ranked = {}
    for q in bm25_plain:
        lex = np.asarray([position[p] for p in bm25_plain[q]], dtype=np.int64)
        den = np.asarray([position[p] for p in dense[q]], dtype=np.int64)
        _, ords = rrf(lex, den, k=60)
        ranked[q] = ids[ords[:50]].tolist()
    return ranked


def measure_encode(embedder: Embedder, texts: list[str]) -> float:
    embedder.encode(texts[:64])  # warm up (first batch allocates)
    started = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def measure_query_encode(embedder: Embedder, queries: Sequence[str]) -> tuple[float, float]:
    """p50/p99 ms of encoding one query (cache cleared before each, so every one is a real forward pass)."""
    for q in queries[:10]:
        embedder.encode_query(q)
    times = []
    for q in queries:
        embedder.clear_query_cache()
        started = time.perf_counter()
        embedder.encode_query(q)
        times.append(time.perf_counter() - started)
    return ms_percentiles(times)


def measure_latency(
    backend: HybridBackend,
    queries: Sequence[str],
    filters: SearchFilters | None = None,
    modes: Sequence[SearchMode] = MODES,
) -> dict[str, tuple[float, float]]:
    """p50/p99 ms per mode of one search (page of 10) with the query embedding computed inside the timing."""
    figures = {}
    for mode in modes:
        for q in queries[:10]:
            backend.search(SearchRequest(query=q, mode=mode))
        times = []
        for q in queries:
            backend.embedder.clear_query_cache()
            request = SearchRequest(query=q, mode=mode, filters=filters or SearchFilters())
            started = time.perf_counter()
            backend.search(request)
            times.append(time.perf_counter() - started)
        figures[mode.value] = ms_percentiles(times)
    return figures


# -- runs -----------------------------------------------------------------------------------------------------------


@dataclass
class Labels:
    """The judged queries and catalog one run measures on, shared by every encoder configuration."""

    products: list[Product]
    relevant: dict[str, set[str]]
    queries: list[str]
    tune_queries: list[str]
    report_queries: list[str]
    ranked: dict[str, dict[str, list[str]]]  # the torch baseline's rankings through search()
    candidates: dict[str, tuple]  # the torch baseline's fusion candidates, reused for its configuration
    fusion_rows: list[tuple[str, float, float, float, float]] | None = None


def run_quality(
    args: argparse.Namespace, work: Path, embedder: Embedder
) -> tuple[dict, HybridBackend, Labels]:
    relevant_all = load_labels(args.data / "homedepot" / "labels_dev.csv")
    products = homedepot_products(args.data)
    queries = sorted(relevant_all)
    if args.quick:
        queries = random.Random(SEED).sample(queries, QUICK_QUERIES)
        keep = {pid for q in queries for pid in relevant_all[q]}
        fill = random.Random(SEED).sample(products, QUICK_FILL)
        products = sorted(
            {p.product_id: p for p in [*fill, *(p for p in products if p.product_id in keep)]}.values(),
            key=lambda p: p.product_id,
        )
    known = {p.product_id for p in products}
    relevant = {q: relevant_all[q] & known for q in queries if relevant_all[q] & known}
    queries = sorted(relevant)
    tune_queries = [q for q in queries if not held_out(q)]
    report_queries = [q for q in queries if held_out(q)]

    name = "hd-quick" if args.quick else "hd"
    other = "hd" if args.quick else "hd-quick"
    snapshot_dir = ensure_snapshot(
        products, work / name, work / f"{name}-cache", embedder, DenseConfig(), work / f"{other}-cache"
    )
    backend = HybridBackend(
        snapshot_dir, embedder=embedder, search_config=DenseSearchConfig(query_cache_size=len(queries) + 16)
    )
    embedder.query_cache_size = len(queries) + 16

    started = time.perf_counter()
    ranked = rank_modes(backend, queries)
    rank_seconds = time.perf_counter() - started
    ranked["bm25s"] = bm25s_rankings(products, queries, stem=False)
    ranked["bm25s_stemmed"] = bm25s_rankings(products, queries, stem=True)
    position = {pid: i for i, pid in enumerate(backend.product_ids.tolist())}
    ranked["naive_hybrid"] = naive_hybrid(ranked["bm25s"], ranked["dense"], position, backend.product_ids)
    candidates = fusion_candidates(backend, queries, backend.config.depth)
    ranked["hybrid_rrf60"] = fused_rankings(
        backend, candidates, DenseSearchConfig(fusion=FusionMethod.rrf, rrf_k=60)
    )

    figures: dict = {
        "catalog_products": len(products),
        "queries": len(queries),
        "queries_held_out": len(report_queries),
        "fusion": backend.config.fusion.value,
        "fusion_dense_weight": backend.config.dense_weight,
        "fusion_depth": backend.config.depth,
        "tuned_on": "the other half of the queries (crc32(query) % 2 == 0); figures are on the held-out half",
        "rank_seconds": round(rank_seconds, 1),
    }
    for name in ("lexical", "dense", "hybrid", "bm25s", "bm25s_stemmed", "naive_hybrid", "hybrid_rrf60"):
        for k in (10, 50):
            figures[f"{name}_recall_at_{k}"] = recall_at(ranked[name], relevant, report_queries, k)
            figures[f"{name}_recall_at_{k}_all_queries"] = recall_at(ranked[name], relevant, queries, k)

    rows: list[tuple[str, float, float, float, float]] = []
    if args.tune:
        rows = tune(backend, relevant, tune_queries, report_queries, candidates)
        table = Table(title="fusion grid (choose on the tuning half, report the held-out half)")
        for col in ("fusion", "tune R@10", "tune R@50", "held-out R@10", "held-out R@50"):
            table.add_column(col, justify="right")
        for name, *values in rows:
            table.add_row(name, *(f"{v:.4f}" for v in values))
        out.print(table)
        figures["fusion_grid"] = {name: [round(v, 4) for v in values] for name, *values in rows}
    labels = Labels(products, relevant, queries, tune_queries, report_queries, ranked, candidates)
    labels.fusion_rows = rows if args.tune else None
    return figures, backend, labels


def latency_sample(args: argparse.Namespace, queries: list[str]) -> list[str]:
    """The held-out queries every latency figure is measured on (the same ones for every configuration)."""
    return random.Random(SEED + 1).sample(queries, min(len(queries), 50 if args.quick else 300))


def encode_sample(args: argparse.Namespace, backend: HybridBackend) -> list[str]:
    """The product texts build throughput is measured on (the same ones for every configuration)."""
    texts = [product_text(p) for _, p in backend.snapshot.store.iter_products()]
    return texts[: 500 if args.quick else 2000]


def run_latency(
    args: argparse.Namespace, work: Path, embedder: Embedder, backend: HybridBackend, queries: list[str]
) -> dict:
    figures: dict = {}
    sample = latency_sample(args, queries)
    real = measure_latency(backend, sample)
    for mode, (p50, p99) in real.items():
        figures[f"{mode}_p50_ms_real"] = p50
        figures[f"{mode}_p99_ms_real"] = p99
    figures["latency_real_products"] = len(backend)
    figures["latency_real_index"] = backend.dense_manifest.index.kind.value

    figures["encode_per_s"] = measure_encode(embedder, encode_sample(args, backend))

    if args.quick:  # latency at the quick catalog size only
        for mode, (p50, p99) in real.items():
            figures[f"{mode}_p50_ms"], figures[f"{mode}_p99_ms"] = p50, p99
        figures["latency_products"] = len(backend)
        return figures

    n = args.latency_scale
    base = [p for _, p in backend.snapshot.store.iter_products()]
    scaled = build_scaled(work, base, backend.snapshot.dir, n, embedder)
    big = HybridBackend(scaled, embedder=embedder)
    for mode, (p50, p99) in measure_latency(big, sample).items():
        figures[f"{mode}_p50_ms"], figures[f"{mode}_p99_ms"] = p50, p99
    for mode, (p50, p99) in measure_latency(big, sample, SearchFilters(source="homedepot")).items():
        figures[f"{mode}_filtered_p50_ms"], figures[f"{mode}_filtered_p99_ms"] = p50, p99
    figures["latency_products"] = len(big)
    figures["latency_index"] = big.dense_manifest.index.model_dump(mode="json", exclude={"faiss_version"})
    figures["latency_catalog"] = (
        f"{len(base):,} real + {len(big) - len(base):,} derived products (derived vectors)"
    )
    return figures


def build_scaled(
    work: Path, base: list[Product], base_dir: Path, n: int, embedder: Embedder | None, tag: str = ""
) -> Path:
    """A snapshot of ``n`` products (real + derived, derived vectors), built once and reused.

    ``tag`` names the encoder configuration (its derived vectors come from that configuration's base vectors).
    """
    suffix = f"-{tag}" if tag else ""
    directory = work / f"scale-{n}{suffix}"
    key = embedder.cache_key if embedder is not None else cache_model_key(resolve_model(DenseConfig().model))
    if has_dense(directory, n, key):
        return directory
    products = derived_catalog(base, n)
    derived_cache = work / f"derived-vectors-{n}{suffix}"
    count, cosine = write_derived_vectors(products, base_dir, key, derived_cache)
    console.print(
        f"derived {count:,} products with derived vectors (mean cosine to their source {cosine:.3f})"
    )
    write_snapshot(products, directory, show_progress=True)
    manifest = build_dense_index(
        directory, DenseConfig(), reuse_from=[base_dir, derived_cache], embedder=embedder
    )
    if manifest.texts_encoded:
        raise RuntimeError(
            f"scaled catalog encoded {manifest.texts_encoded} texts; derived vectors were expected"
        )
    shutil.rmtree(derived_cache, ignore_errors=True)
    return directory


def _scale_child(work: str, data: str, n: int, queries: list[str], result_path: str) -> None:
    """Child process: build the N-product catalog and the exact top-50 reference (keeps the parent's RSS clean)."""
    work_dir = Path(work)
    base_dir = work_dir / "hd"
    base = [p for _, p in Snapshot(base_dir).store.iter_products()]
    started = time.perf_counter()
    directory = build_scaled(work_dir, base, base_dir, n, None)
    build_seconds = time.perf_counter() - started
    cache = EmbeddingCache.open(directory / DENSE_DIRNAME)
    assert cache is not None
    embedder = Embedder.from_model()
    q = np.stack([embedder.encode_query(text) for text in queries])
    scores = np.full((len(queries), 50), -np.inf, dtype=np.float32)
    ords = np.zeros((len(queries), 50), dtype=np.int64)
    for start in range(0, len(cache), 200_000):
        block = cache.rows(np.arange(start, min(start + 200_000, len(cache)))) @ q.T  # (rows, queries)
        for j in range(len(queries)):
            all_scores = np.concatenate([scores[j], block[:, j]])
            all_ords = np.concatenate([ords[j], np.arange(start, start + block.shape[0])])
            top = np.lexsort((all_ords, -all_scores))[:50]
            scores[j], ords[j] = all_scores[top], all_ords[top]
    np.savez(result_path, ords=ords, build_seconds=build_seconds, build_peak_rss_mb=peak_rss_mb())


def run_scale(args: argparse.Namespace, work: Path, embedder: Embedder, queries: list[str]) -> dict:
    n = args.scale
    sample = random.Random(SEED + 2).sample(queries, min(len(queries), 200))
    # The HNSW search parameters were chosen looking at `sample`; `fresh` queries were never looked at.
    taken = set(sample)
    fresh = random.Random(SEED + 3).sample(
        [q for q in queries if q not in taken], min(len(queries) // 2, 200)
    )
    result_path = work / f"scale-{n}-reference.npz"
    child = multiprocessing.get_context("spawn").Process(
        target=_scale_child, args=(str(work), str(args.data), n, sample + fresh, str(result_path))
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"building the {n:,}-product catalog failed (exit code {child.exitcode})")
    reference = np.load(result_path)
    backend = HybridBackend(work / f"scale-{n}", embedder=embedder)
    recalls = []
    for q, exact in zip(sample + fresh, reference["ords"], strict=True):
        _, approx = backend.index.search(backend.query_vector(q), 50)
        recalls.append(len(set(approx.tolist()) & set(exact.tolist())) / 50)
    recalls, fresh_recalls = recalls[: len(sample)], recalls[len(sample) :]
    latency = measure_latency(backend, sample)
    manifest = backend.dense_manifest
    figures = {
        "scale": n,
        "scale_catalog": f"{n:,} products: 54,667 real + {n - 54_667:,} derived (derived vectors, not encoded)",
        "ann_recall_vs_exact_at_50": float(np.mean(recalls)),
        "ann_recall_vs_exact_at_50_fresh_queries": float(np.mean(fresh_recalls)),
        "p50_ms": latency["hybrid"][0],
        "p99_ms": latency["hybrid"][1],
        "scale_index": manifest.index.model_dump(mode="json", exclude={"faiss_version"}),
        "scale_build_seconds": float(reference["build_seconds"]),
        "build_peak_rss_mb": float(reference["build_peak_rss_mb"]),
    }
    for mode, (p50, p99) in latency.items():
        figures[f"scale_{mode}_p50_ms"], figures[f"scale_{mode}_p99_ms"] = p50, p99
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


# -- encoder configurations (--backends) ----------------------------------------------------------------------------


class Embedders:
    """One loaded embedder per (model, backend), shared by the configurations that use it (loading costs seconds)."""

    def __init__(
        self, baseline: Embedder, texts: list[str], model_path: Callable[[str], str] = lambda arg: arg
    ) -> None:
        self._loaded: dict[tuple[str, EncoderBackend], Embedder] = {
            ("minilm", EncoderBackend.torch): baseline
        }
        self._model_path = model_path  # a configuration's model argument -> what Embedder.from_model takes
        self.rates: dict[str, float] = {}
        self.rate_rounds: dict[str, list[float]] = {}
        self._texts = texts

    def measure_rates(self, encoders: Sequence[tuple[str, EncoderBackend, str]], rounds: int) -> None:
        """Build throughput of every (model, backend, model_arg) in ``rounds`` interleaved rounds, kept as the median.

        Each round measures every encoder once, in the same order, so a backend and the torch baseline it is
        compared with see the same load: on a shared machine the load drifts over minutes, and one measurement
        per backend taken minutes apart compares the load as much as the backends.
        """
        unique = list(dict.fromkeys(encoders))
        for r in range(rounds):
            for model, backend, model_arg in unique:
                key = f"{model}:{backend.value}"
                embedder = self.get(model, backend, model_arg)
                with console.status(
                    f"build throughput of {key}, round {r + 1}/{rounds} ({len(self._texts):,} texts)"
                ):
                    self.rate_rounds.setdefault(key, []).append(measure_encode(embedder, self._texts))
        for key, samples in self.rate_rounds.items():
            self.rates[key] = float(np.median(samples))

    def rate(self, model: str, backend: EncoderBackend, model_arg: str) -> float:
        """Build throughput of (model, backend) on the run's encode sample (measured once if no round did)."""
        key = f"{model}:{backend.value}"
        if key not in self.rates:
            self.measure_rates([(model, backend, model_arg)], rounds=1)
        return self.rates[key]

    def get(self, model: str, backend: EncoderBackend, model_arg: str) -> Embedder:
        key = (model, backend)
        if key not in self._loaded:
            with console.status(f"preparing the {model} {backend.value} encoder"):
                embedder = Embedder.from_model(
                    self._model_path(model_arg), backend=backend, query_cache_size=0
                )
                embedder.encode_query("warm up")
            self._loaded[key] = embedder
        return self._loaded[key]


def model_path(model_arg: str, work: Path, labels: Labels, quick: bool) -> str:
    """``Embedder.from_model``'s argument for a configuration's model: the fine-tuned model is trained here (once;
    reused while its recipe is unchanged) on the judged pairs of the tuning half only."""
    if model_arg != FINETUNED:
        return model_arg
    products = {p.product_id: p for p in labels.products}
    tuning = set(labels.tune_queries)
    pairs = training_pairs(products, labels.relevant, tuning.__contains__)
    console.print(
        f"[bold]fine-tuning MiniLM[/] on {len(pairs):,} pairs of {len(tuning):,} tuning-half queries"
    )
    out = finetune(pairs, work / ("minilm-hd-quick" if quick else "minilm-hd"))
    return str(out)


def candidate_rankings(
    backend: HybridBackend, candidates: dict[str, tuple]
) -> dict[str, dict[str, list[str]]]:
    """Dense and hybrid top 50 from the fusion candidates: what ``search()`` returns (same depths, same fusion,
    no filters), computed once per query; the run checks the two agree on the torch baseline."""
    dense = {q: backend.product_ids[c[2][:50]].tolist() for q, c in candidates.items()}
    return {"dense": dense, "hybrid": fused_rankings(backend, candidates, backend.config)}


def fusion_choice(
    rows: list[tuple[str, float, float, float, float]],
) -> tuple[FusionChoice, list[FusionChoice]]:
    choices = [FusionChoice(*row) for row in rows]
    return choose_fusion(choices), choices


def measure_setup(
    setup: EncoderSetup,
    args: argparse.Namespace,
    work: Path,
    labels: Labels,
    embedders: Embedders,
    baseline: dict,
    scaled: dict[tuple[str, str], Path],
) -> tuple[dict, FusionChoice]:
    """Recall (default fusion and the fusion chosen on the tuning half), query-encode p50, build throughput and
    hybrid latency at the latency scale, for one configuration. The torch baseline reuses the figures the run
    already measured for it (same code, same queries)."""
    index_embedder = embedders.get(setup.model, setup.index, setup.model_arg)
    query_embedder = embedders.get(setup.model, setup.query, setup.model_arg)
    base = "hd-quick" if args.quick else "hd"
    other = "hd" if args.quick else "hd-quick"
    suffix = f"-{setup.tag}" if setup.tag else ""
    console.rule(f"[bold]{setup.label}[/]")
    snapshot_dir = ensure_snapshot(
        labels.products,
        work / f"{base}{suffix}",
        work / f"{base}{suffix}-cache",
        index_embedder,
        DenseConfig(),
        work / f"{other}{suffix}-cache",
    )
    backend = HybridBackend(
        snapshot_dir,
        embedder=query_embedder,
        search_config=DenseSearchConfig(query_cache_size=len(labels.queries) + 16),
    )
    query_embedder.query_cache_size = len(labels.queries) + 16
    if setup.is_baseline:
        candidates = labels.candidates
    else:
        with console.status(f"ranking {len(labels.queries):,} queries"):
            candidates = fusion_candidates(backend, labels.queries, backend.config.depth)
    ranked = candidate_rankings(backend, candidates)
    figures: dict = {
        "model": index_embedder.spec.model_id,
        "index_backend": setup.index.value,
        "query_backend": setup.query.value,
        "dimension": backend.dense_manifest.dimension,
    }
    for mode in ("dense", "hybrid"):
        for k in (10, 50):
            figures[f"{mode}_recall_at_{k}"] = recall_at(
                ranked[mode], labels.relevant, labels.report_queries, k
            )
    if setup.is_baseline:  # the candidates path must agree with search()
        for mode in ("dense", "hybrid"):
            figures[f"{mode}_recall_at_10_via_search"] = recall_at(
                labels.ranked[mode], labels.relevant, labels.report_queries, 10
            )
    rows = labels.fusion_rows if setup.is_baseline and labels.fusion_rows else None
    if rows is None:
        with console.status("fusion grid on the tuning half"):
            rows = tune(backend, labels.relevant, labels.tune_queries, labels.report_queries, candidates)
    chosen, _ = fusion_choice(rows)
    figures["tuned_fusion"] = chosen.name
    figures["tuned_hybrid_recall_at_10"] = chosen.held_r10
    figures["tuned_hybrid_recall_at_50"] = chosen.held_r50
    query_embedder.query_cache_size = 0
    query_embedder.clear_query_cache()

    sample = latency_sample(args, labels.report_queries)
    figures["query_encode_p50_ms"], figures["query_encode_p99_ms"] = measure_query_encode(
        query_embedder, sample
    )
    figures["encode_per_s"] = embedders.rate(setup.model, setup.index, setup.model_arg)
    if setup.query is not setup.index:
        figures["query_backend_encode_per_s"] = embedders.rate(setup.model, setup.query, setup.model_arg)
    if setup.is_baseline:
        figures["hybrid_p50_ms"], figures["hybrid_p99_ms"] = (
            baseline["hybrid_p50_ms"],
            baseline["hybrid_p99_ms"],
        )
        figures["dense_p50_ms"] = baseline["dense_p50_ms"]
    else:
        latency_backend = backend
        if not args.quick:
            # One scaled index per vector space (model + family): HNSW search cost depends on the dimension and
            # the index parameters, not on which backend of that space embedded the catalog.
            space = (setup.model, setup.index.family)
            if space not in scaled:
                products = [p for _, p in backend.snapshot.store.iter_products()]
                scaled[space] = build_scaled(
                    work, products, snapshot_dir, args.latency_scale, index_embedder, setup.tag
                )
            latency_backend = HybridBackend(scaled[space], embedder=query_embedder)
            figures["latency_index_backend"] = latency_backend.dense_manifest.backend.value
        latency = measure_latency(latency_backend, sample, modes=MODES[1:])
        figures["hybrid_p50_ms"], figures["hybrid_p99_ms"] = latency["hybrid"]
        figures["dense_p50_ms"] = latency["dense"][0]
    return figures, chosen


def run_setups(
    args: argparse.Namespace,
    work: Path,
    labels: Labels,
    embedder: Embedder,
    baseline_backend: HybridBackend,
    baseline: dict,
) -> dict:
    """Every ``--backends`` configuration beside the torch baseline, and the issue's summary keys."""
    target = args.target or default_setup()
    setups = parse_setups(args.backends, target)
    embedders = Embedders(
        embedder, encode_sample(args, baseline_backend), lambda arg: model_path(arg, work, labels, args.quick)
    )
    encoders = [(BASELINE.model, BASELINE.index, BASELINE.model_arg)]
    for setup in setups:
        encoders += [(setup.model, setup.index, setup.model_arg), (setup.model, setup.query, setup.model_arg)]
    embedders.measure_rates(encoders, rounds=RATE_ROUNDS_QUICK if args.quick else RATE_ROUNDS)
    per: dict[str, dict] = {}
    chosen: dict[str, FusionChoice] = {}
    scaled: dict[tuple[str, str], Path] = {}
    if not args.quick:
        scaled[(BASELINE.model, BASELINE.index.family)] = work / f"scale-{args.latency_scale}"
    for setup in setups:
        per[setup.label], chosen[setup.label] = measure_setup(
            setup, args, work, labels, embedders, baseline, scaled
        )
    torch_figures = per[BASELINE.label]
    default = per[target.label]
    best_label, best = best_setup(chosen)
    return {
        "backends": per,
        "encode_per_s_by_backend": embedders.rates,
        "encode_per_s_rounds": embedders.rate_rounds,
        "default_config": default_setup().label,
        "target_config": target.label,
        "hybrid_p50_ms": default["hybrid_p50_ms"],
        "hybrid_p50_ms_torch": torch_figures["hybrid_p50_ms"],
        "encode_per_s": default["encode_per_s"],
        "encode_per_s_torch": torch_figures["encode_per_s"],
        "hybrid_recall_at_10": default["hybrid_recall_at_10"],
        "hybrid_recall_at_10_torch": torch_figures["hybrid_recall_at_10"],
        "best_hybrid_recall_at_10": best.held_r10,
        "best_hybrid_recall_at_10_tuning_half": best.tune_r10,
        "best_config": f"{best_label}, {best.name}",
    }


def print_tables(figures: dict, args: argparse.Namespace) -> None:
    table = Table(
        title=f"retrieval quality: Home Depot, {figures['catalog_products']:,} titles, "
        f"{figures['queries_held_out']:,} held-out queries (all {figures['queries']:,} in brackets)"
    )
    for col in ("system", "recall@10", "recall@50"):
        table.add_column(col, justify="right")
    rows = [
        ("bm25s (plain; reference pipeline)", "bm25s"),
        ("bm25s + English stemmer", "bm25s_stemmed"),
        ("naive hybrid: plain bm25s + dense + RRF(60)", "naive_hybrid"),
        ("prgym lexical (tantivy BM25)", "lexical"),
        ("prgym dense (MiniLM + FAISS)", "dense"),
        ("prgym hybrid, RRF(60)", "hybrid_rrf60"),
        (f"prgym hybrid ({figures['fusion']}, w={figures['fusion_dense_weight']})", "hybrid"),
    ]
    for label, key in rows:
        table.add_row(
            label,
            *(
                f"{figures[f'{key}_recall_at_{k}']:.3f} ({figures[f'{key}_recall_at_{k}_all_queries']:.3f})"
                for k in (10, 50)
            ),
        )
    out.print(table)
    speed = Table(title="speed, torch MiniLM (2-core machine; query embedding included, query cache off)")
    for col in ("catalog", "mode", "p50 ms", "p99 ms"):
        speed.add_column(col, justify="right")
    for mode in ("lexical", "dense", "hybrid"):
        speed.add_row(
            f"{figures['latency_real_products']:,} real",
            mode,
            f"{figures[f'{mode}_p50_ms_real']:.1f}",
            f"{figures[f'{mode}_p99_ms_real']:.1f}",
        )
    if not args.quick:
        for mode in ("lexical", "dense", "hybrid"):
            speed.add_row(
                f"{figures['latency_products']:,} (derived)",
                mode,
                f"{figures[f'{mode}_p50_ms']:.1f}",
                f"{figures[f'{mode}_p99_ms']:.1f}",
            )
            speed.add_row(
                f"{figures['latency_products']:,} + filter",
                mode,
                f"{figures[f'{mode}_filtered_p50_ms']:.1f}",
                f"{figures[f'{mode}_filtered_p99_ms']:.1f}",
            )
    if args.scale:
        for mode in ("lexical", "dense", "hybrid"):
            speed.add_row(
                f"{args.scale:,} (derived)",
                mode,
                f"{figures[f'scale_{mode}_p50_ms']:.1f}",
                f"{figures[f'scale_{mode}_p99_ms']:.1f}",
            )
    out.print(speed)
    out.print(f"encode throughput (torch MiniLM): {figures['encode_per_s']:.0f} texts/s")
    if args.scale:
        out.print(
            f"{figures['scale_catalog']}; HNSW recall@50 vs exact: {figures['ann_recall_vs_exact_at_50']:.4f} "
            f"({figures['ann_recall_vs_exact_at_50_fresh_queries']:.4f} on queries not used to pick efSearch); "
            f"peak RSS serving {figures['peak_rss_mb']:.0f} MB, building {figures['build_peak_rss_mb']:.0f} MB"
        )


def print_setups(figures: dict, args: argparse.Namespace) -> None:
    """One row per encoder configuration, ratios against torch MiniLM, then the issue's targets."""
    torch_figures = figures["backends"][BASELINE.label]
    where = "quick catalog" if args.quick else f"{figures['latency_products']:,}"
    table = Table(
        title=f"encoder configurations (index/query backend), {figures['queries_held_out']:,} held-out queries; "
        f"prgym default: {figures['default_config']}, targets checked for: {figures['target_config']}"
    )
    for col in (
        "config",
        "build enc/s",
        "x torch",
        "query enc p50 ms",
        f"hybrid p50 ms ({where})",
        "x torch",
        "dense R@10",
        "dense R@50",
        "hybrid R@10",
        "hybrid R@50",
        "tuned fusion",
        "tuned hybrid R@10",
    ):
        table.add_column(col, justify="right")
    for label, f in figures["backends"].items():
        table.add_row(
            label,
            f"{f['encode_per_s']:.0f}",
            f"{f['encode_per_s'] / torch_figures['encode_per_s']:.2f}",
            f"{f['query_encode_p50_ms']:.2f}",
            f"{f['hybrid_p50_ms']:.1f}",
            f"{f['hybrid_p50_ms'] / torch_figures['hybrid_p50_ms']:.2f}",
            f"{f['dense_recall_at_10']:.3f}",
            f"{f['dense_recall_at_50']:.3f}",
            f"{f['hybrid_recall_at_10']:.3f}",
            f"{f['hybrid_recall_at_50']:.3f}",
            f["tuned_fusion"],
            f"{f['tuned_hybrid_recall_at_10']:.3f}",
        )
    out.print(table)
    checks = Table(title=f"targets ({figures['target_config']} against torch; best {figures['best_config']})")
    for col in ("target", "measured", "bound", "met"):
        checks.add_column(col, justify="right")
    for target in targets(figures):
        checks.add_row(
            target.name, f"{target.value:.3f}", f"{target.bound:.3f}", "yes" if target.met else "NO"
        )
    out.print(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="3,000-title catalog and 150 queries: under a minute"
    )
    parser.add_argument(
        "--scale", type=int, default=0, help="also measure a derived catalog of this many products"
    )
    parser.add_argument(
        "--latency-scale", type=int, default=130_000, help="catalog size of the latency target"
    )
    parser.add_argument(
        "--tune", action="store_true", help="print the fusion grid on both halves of the queries"
    )
    parser.add_argument(
        "--backends",
        default=None,
        help="encoder configurations to measure beside torch MiniLM, comma separated, each "
        "[model:]index_backend[/query_backend] (model minilm, mpnet, or minilm-hd: MiniLM fine-tuned by the run "
        "on the tuning half; backends torch, onnx, onnx-int8, "
        f"static); default {DEFAULT_BACKENDS} ({QUICK_BACKENDS} with --quick)",
    )
    parser.add_argument(
        "--target",
        default=None,
        help="the configuration the issue-19 targets are checked for (the JSON's hybrid_p50_ms, encode_per_s, "
        "hybrid_recall_at_10); default: what DenseConfig / DenseSearchConfig default to",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args()
    if not (args.data / "homedepot" / "labels_dev.csv").is_file():
        parser.error(f"--data: {args.data} has no homedepot/labels_dev.csv")
    if args.backends is None:
        args.backends = QUICK_BACKENDS if args.quick else DEFAULT_BACKENDS
    try:
        args.target = parse_setup(args.target) if args.target else None
    except ValueError as exc:
        parser.error(str(exc).replace("--backends", "--target", 1))
    try:
        parse_setups(args.backends, args.target)
    except ValueError as exc:
        parser.error(str(exc))
    if args.scale and args.quick:
        parser.error("--scale and --quick do not combine")
    if args.scale and args.scale <= 54_667:
        parser.error("--scale: expected more than the 54,667 real products")
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)

    embedder = Embedder.from_model(query_cache_size=0)
    embedder.encode_query("warm up")
    figures, backend, labels = run_quality(args, work, embedder)
    figures.update(run_latency(args, work, embedder, backend, labels.report_queries))
    if args.scale:
        figures.update(run_scale(args, work, embedder, labels.report_queries))
    torch_figures = dict(
        figures
    )  # the torch MiniLM run (run_setups redefines some keys for the target config)
    figures.update(run_setups(args, work, labels, embedder, backend, torch_figures))
    figures["model"] = backend.dense_manifest.model.model_id
    figures["quick"] = args.quick
    figures.setdefault("peak_rss_mb", peak_rss_mb())
    torch_figures.update(model=figures["model"], peak_rss_mb=figures["peak_rss_mb"])
    print_tables(torch_figures, args)
    print_setups(figures, args)
    print(json.dumps(figures, default=float))


if __name__ == "__main__":
    main()
