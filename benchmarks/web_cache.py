"""Web layer benchmark: cache-hit latency, local-corpus search latency, and the cold (live) path beside them.

Measured in one run, side by side:
- the local corpus: one pseudo-page per real product record of ../shared/data (Home Depot titles, Best Buy names
  and descriptions, Icecat titles and descriptions, Amazon.in names, Myntra names and attributes) under
  synthetic, clearly labelled urls (``https://<source>.corpus.invalid/...``); build time, then BM25 search latency
  (tantivy) for real shopper queries (Home Depot search terms, WANDS), with ``bm25s`` on the same documents and
  queries as the baseline;
- the SQLite cache: put latency and hit latency (raw ``WebCache.get`` and through the ``web_search`` /
  ``web_visit`` tools in replay mode);
- the cold path: ``web_search`` live against a local HTTP server speaking Serper's format (answering from the
  same corpus) and ``web_visit`` live fetching real saved shop pages from a local server (fetch + extraction).

    python benchmarks/web_cache.py            # full run (~135k documents)
    python benchmarks/web_cache.py --quick    # under a minute (Home Depot titles only: 54,667 documents)

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.web import (  # noqa: E402
    CacheMode,
    CacheRequest,
    FetchLimits,
    HttpFetcher,
    LocalCorpus,
    SerperProvider,
    WebCache,
    WebTools,
    build_corpus,
)
from sandbox.web.fetch import RawPage, page_from_raw  # noqa: E402

console = Console(width=120)
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TARGET_CACHE_HIT_MS = 1.0
TARGET_CORPUS_MS = 5.0
MIN_CORPUS_DOCS = 50_000


# -- corpus documents from the real data ----------------------------------------------------------------------------


def _doc(source: str, key: str, title: str, text: str) -> dict[str, str]:
    return {
        "url": f"https://{source}.corpus.invalid/p/{key}",
        "title": title.strip(),
        "text": text.strip() or title,
    }


def homedepot_docs(data: Path) -> Iterator[dict[str, str]]:
    with (data / "homedepot" / "products.csv").open(encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.DictReader(f):
            yield _doc("homedepot", row["product_uid"], row["product_title"], row["product_title"])


def bestbuy_docs(data: Path) -> Iterator[dict[str, str]]:
    for i, item in enumerate(json.loads((data / "bestbuy" / "products.json").read_text(encoding="utf-8"))):
        categories = " > ".join(item.get("categories") or [])
        text = "\n".join(
            filter(None, [item.get("name", ""), item.get("brand", ""), categories, item.get("description")])
        )
        yield _doc("bestbuy", str(i), item.get("name", ""), text)


def icecat_docs(data: Path) -> Iterator[dict[str, str]]:
    for path in sorted((data / "icecat").glob("icecat-*.json.zip")):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                for item in json.loads(archive.read(name)):
                    title = str(item.get("title") or item.get("name") or "")
                    text = "\n".join(
                        filter(None, [title, str(item.get("supplier") or ""), item.get("short_description")])
                    )
                    yield _doc("icecat", str(item.get("id")), title, text)


def amazon_in_docs(data: Path) -> Iterator[dict[str, str]]:
    with (data / "amazon_in" / "Amazon-Products.csv").open(
        encoding="utf-8", errors="replace", newline=""
    ) as f:
        for i, row in enumerate(csv.DictReader(f)):
            text = f"{row.get('name', '')}\n{row.get('main_category', '')} > {row.get('sub_category', '')}"
            yield _doc("amazon-in", str(i), row.get("name", ""), text)


def myntra_docs(data: Path) -> Iterator[dict[str, str]]:
    folder = data / "myntra"
    with (
        (folder / "styles.csv").open(encoding="utf-8", errors="replace", newline="") as a,
        (folder / "styles_text.csv").open(encoding="utf-8", errors="replace", newline="") as b,
    ):
        for style, text_row in zip(csv.DictReader(a), csv.DictReader(b), strict=False):
            name = text_row.get("productDisplayName", "")
            attrs = " ".join(
                style.get(k, "") for k in ("gender", "articleType", "baseColour", "season", "usage")
            )
            yield _doc("myntra", style.get("id", ""), name, f"{name}\n{attrs}")


def write_corpus_source(data: Path, out: Path, quick: bool) -> tuple[int, list[str]]:
    readers: list[tuple[str, Callable[[Path], Iterator[dict[str, str]]]]] = [("homedepot", homedepot_docs)]
    if not quick:
        readers += [
            ("bestbuy", bestbuy_docs),
            ("icecat", icecat_docs),
            ("amazon_in", amazon_in_docs),
            ("myntra", myntra_docs),
        ]
    count = 0
    with out.open("w", encoding="utf-8") as f:
        for _, reader in readers:
            for doc in reader(data):
                if doc["title"]:
                    f.write(json.dumps(doc, ensure_ascii=False) + "\n")
                    count += 1
    return count, [name for name, _ in readers]


def load_queries(data: Path, limit: int, seed: int) -> list[str]:
    queries: dict[str, None] = {}
    with (data / "homedepot" / "labels_dev.csv").open(encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.DictReader(f):
            queries.setdefault(row["search_term"].strip(), None)
    wands = data / "queries" / "wands_queries.csv"
    if wands.is_file():
        with wands.open(encoding="utf-8", errors="replace", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                queries.setdefault((row.get("query") or "").strip(), None)
    pool = [q for q in queries if q]
    random.Random(seed).shuffle(pool)
    return pool[:limit]


# -- timing helpers -------------------------------------------------------------------------------------------------


def timed(run: Callable[[Any], object], items: Sequence[Any], warmup: int = 10) -> list[float]:
    for item in items[:warmup]:
        run(item)
    samples = []
    for item in items:
        started = time.perf_counter()
        run(item)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def pct(samples: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q)) if samples else float("nan")


# -- the local "live" server -----------------------------------------------------------------------------------------


def start_server(corpus: LocalCorpus, pages: dict[str, bytes]) -> tuple[ThreadingHTTPServer, str]:
    """Serper-format search answered from ``corpus``, and ``/page/<name>`` serving real saved pages."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK stall

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            hits = corpus.search(body["q"], int(body.get("num", 10)))
            organic = [
                {"title": h.title, "link": h.url, "snippet": h.snippet, "position": i + 1}
                for i, h in enumerate(hits)
            ]
            answer = {"searchParameters": {"q": body["q"], "type": "search"}, "organic": organic}
            self._send(200, json.dumps(answer).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802
            name = self.path.rsplit("/", 1)[-1]
            page = pages.get(name.split("-", 1)[0])
            if page is None:
                self._send(404, b"not found", "text/plain")
            else:
                self._send(200, page, "text/html; charset=utf-8")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}"


# -- the run ---------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data: Path = args.data
    quick = args.quick
    n_queries = 400 if quick else 3000
    n_cache = 2000 if quick else 20000
    n_cold = 150 if quick else 600
    n_visits = 9 if quick else 30
    figures: dict[str, Any] = {"quick": quick}

    console.print("[bold]1/4[/] writing corpus source from the real data ...")
    src = work / "corpus.jsonl"
    n_docs, sources = write_corpus_source(data, src, quick)
    started = time.perf_counter()
    manifest = build_corpus(src, work / "corpus")
    build_s = time.perf_counter() - started
    corpus = LocalCorpus(work / "corpus")
    figures.update(corpus_docs=manifest.documents, corpus_sources=sources, corpus_build_s=build_s)
    console.print(
        f"    {manifest.documents:,} pseudo-pages from {', '.join(sources)} (synthetic urls under *.corpus.invalid), "
        f"indexed in {build_s:.1f} s"
    )

    console.print("[bold]2/4[/] corpus search latency (tantivy) and the bm25s baseline ...")
    queries = load_queries(data, n_queries, args.seed)
    search_ms = timed(lambda q: corpus.search(q, 10), queries)
    empty = sum(1 for q in queries if not corpus.search(q, 10))
    figures.update(
        corpus_search_p50_ms=pct(search_ms, 50),
        corpus_search_p95_ms=pct(search_ms, 95),
        corpus_search_p99_ms=pct(search_ms, 99),
        corpus_queries=len(queries),
        corpus_queries_without_hits=empty,
    )
    figures.update(bm25s_baseline(src, queries))

    console.print("[bold]3/4[/] cache put / hit latency ...")
    pages = {
        name: (data / "web_pages" / f"{name}.html").read_bytes()
        for name in ("amazon_item_page", "ebay_item_page", "amazon_results_page")
    }
    page_payloads = [
        page_from_raw(
            RawPage(
                url=f"https://shop.invalid/{n}",
                final_url=f"https://shop.invalid/{n}",
                status=200,
                mime="text/html",
                charset="utf-8",
                body=body,
                truncated=False,
            )
        ).model_dump()
        for n, body in pages.items()
    ]
    cache = WebCache(work / "cache.sqlite", namespace="bench")
    rng = random.Random(args.seed)
    cache_queries = [f"{queries[i % len(queries)]} {i}" for i in range(n_cache)]
    search_requests = [
        CacheRequest.search(corpus.name, q, num=10, **corpus.cache_params()) for q in cache_queries
    ]
    payloads = [{"results": [h.model_dump() for h in corpus.search(q, 10)]} for q in queries]
    put_ms = timed(
        lambda i: cache.put(search_requests[i], payloads[i % len(payloads)]),
        range(len(search_requests)),
        warmup=0,
    )
    page_requests = [CacheRequest.page(f"https://shop.invalid/page/{i}") for i in range(500)]
    for i, request in enumerate(page_requests):
        cache.put(request, page_payloads[i % len(page_payloads)])
    sample = [search_requests[rng.randrange(len(search_requests))] for _ in range(5000 if quick else 20000)]
    hit_ms = timed(lambda r: cache.get(r), sample, warmup=200)
    page_hit_ms = timed(
        lambda r: cache.get(r), [page_requests[rng.randrange(500)] for _ in range(2000)], warmup=50
    )
    replay = WebTools(corpus, [corpus], cache=cache, mode=CacheMode.replay)
    tool_hit_ms = timed(
        lambda q: replay.web_search([q]), [cache_queries[rng.randrange(n_cache)] for _ in range(3000)]
    )
    stats = cache.stats()
    figures.update(
        cache_entries=stats.entries,
        cache_file_mb=stats.file_bytes / 1e6,
        cache_put_p50_ms=pct(put_ms, 50),
        cache_hit_p50_ms=pct(hit_ms, 50),
        cache_hit_p95_ms=pct(hit_ms, 95),
        cache_hit_p99_ms=pct(hit_ms, 99),
        cache_page_hit_p50_ms=pct(page_hit_ms, 50),
        tool_search_hit_p50_ms=pct(tool_hit_ms, 50),
    )

    console.print("[bold]4/4[/] cold path: live web_search / web_visit against a local server ...")
    server, base_url = start_server(corpus, pages)
    try:
        provider = SerperProvider(api_key="bench", base_url=base_url, env={})
        fetcher = HttpFetcher(FetchLimits(timeout_s=5, total_timeout_s=30, max_bytes=5_000_000))
        live = WebTools(provider, [fetcher], mode=CacheMode.live)
        cold_queries = queries[:n_cold]
        cold_ms = timed(lambda q: live.web_search([q]), cold_queries)
        names = list(pages)
        visit_urls = [f"{base_url}/page/{names[i % len(names)]}-{i}" for i in range(n_visits)]
        goal = "price, brand and key specifications"
        # Record mode is the live path plus one cache put: the cold timing and the recording in one pass.
        recorder = WebTools(provider, [fetcher], cache=cache, mode=CacheMode.record)
        cold_visit_ms = timed(lambda u: recorder.web_visit([u], goal), visit_urls, warmup=1)
        replay_visit = WebTools(provider, [fetcher], cache=cache, mode=CacheMode.replay_strict)
        visit_hit_ms = timed(lambda u: replay_visit.web_visit([u], goal), visit_urls * 10, warmup=3)
        assert all(r.from_cache for u in visit_urls for r in replay_visit.web_visit([u], goal))
    finally:
        server.shutdown()
        server.server_close()
    cache.close()
    figures.update(
        cold_p50_ms=pct(cold_ms, 50),
        cold_p95_ms=pct(cold_ms, 95),
        cold_visit_p50_ms=pct(cold_visit_ms, 50),
        visit_hit_p50_ms=pct(visit_hit_ms, 50),
        hit_speedup_vs_cold=pct(cold_ms, 50) / max(pct(tool_hit_ms, 50), 1e-9),
        cache_hit_target_met=pct(hit_ms, 50) <= TARGET_CACHE_HIT_MS,
        corpus_search_target_met=pct(search_ms, 50) <= TARGET_CORPUS_MS
        and manifest.documents >= MIN_CORPUS_DOCS,
    )
    return figures


def bm25s_baseline(src: Path, queries: Sequence[str]) -> dict[str, Any]:
    """The same documents and queries with bm25s (English stemmer, stopwords): the pure-Python-API baseline."""
    try:
        import bm25s
        import Stemmer
    except ImportError:
        console.print(
            "    [yellow]bm25s / PyStemmer not installed: baseline skipped (pip install 'prgym[bench]')[/]"
        )
        return {"bm25s_search_p50_ms": None}
    texts = []
    with src.open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts.append(f"{doc['title']}\n{doc['text']}")
    stemmer = Stemmer.Stemmer("english")
    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False
    )
    build_s = time.perf_counter() - started
    k = min(10, len(texts))

    def search(q: str) -> object:
        tokens = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
        return retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)

    samples = timed(search, list(queries))
    return {
        "bm25s_build_s": build_s,
        "bm25s_search_p50_ms": pct(samples, 50),
        "bm25s_search_p95_ms": pct(samples, 95),
    }


def report(figures: dict[str, Any]) -> None:
    def ms(key: str) -> str:
        value = figures.get(key)
        return "-" if value is None else f"{value:.3f}"

    table = Table(title=f"web layer ({'quick' if figures['quick'] else 'full'} run, 2-core machine)")
    for column in ("measurement", "p50 ms", "p95 ms", "target / note"):
        table.add_column(column, justify="left" if column in ("measurement", "target / note") else "right")
    docs = f"{figures['corpus_docs']:,} docs, {figures['corpus_queries']} real queries"
    table.add_row(
        "cache hit: WebCache.get (search entry)",
        ms("cache_hit_p50_ms"),
        ms("cache_hit_p95_ms"),
        f"<= {TARGET_CACHE_HIT_MS} ms; {figures['cache_entries']:,} entries",
    )
    table.add_row(
        "cache hit: WebCache.get (page entry, ~10 KB text)", ms("cache_page_hit_p50_ms"), "-", "zlib payload"
    )
    table.add_row("cache put", ms("cache_put_p50_ms"), "-", "one WAL commit")
    table.add_row("web_search, replay (cache hit via tool)", ms("tool_search_hit_p50_ms"), "-", "")
    table.add_row(
        "web_search, live local Serper server (cold)",
        ms("cold_p50_ms"),
        ms("cold_p95_ms"),
        f"baseline: {figures['hit_speedup_vs_cold']:.0f}x slower than the hit",
    )
    table.add_row("web_visit, replay (cache hit + evidence)", ms("visit_hit_p50_ms"), "-", "")
    table.add_row(
        "web_visit, live local page (fetch + extract)", ms("cold_visit_p50_ms"), "-", "real saved pages"
    )
    table.add_row(
        "corpus search: tantivy BM25",
        ms("corpus_search_p50_ms"),
        ms("corpus_search_p95_ms"),
        f"<= {TARGET_CORPUS_MS} ms; {docs}",
    )
    table.add_row(
        "corpus search: bm25s (baseline)", ms("bm25s_search_p50_ms"), ms("bm25s_search_p95_ms"), docs
    )
    console.print(table)
    console.print(
        f"corpus: {figures['corpus_docs']:,} pseudo-pages built in {figures['corpus_build_s']:.1f} s from "
        f"{', '.join(figures['corpus_sources'])}; urls are synthetic (*.corpus.invalid), texts are real records. "
        f"Targets met: cache hit {figures['cache_hit_target_met']}, corpus search {figures['corpus_search_target_met']}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Web cache and local corpus benchmark (see the module docstring)."
    )
    parser.add_argument("--quick", action="store_true", help="Smaller run, under a minute.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="The shared data directory.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.data / "homedepot" / "products.csv").is_file():
        raise SystemExit(f"shared data not found at {args.data} (pass --data)")
    with tempfile.TemporaryDirectory(prefix="prgym-web-bench-") as tmp:
        figures = run(args, Path(tmp))
    report(figures)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
