"""`prgym web` commands: search and read pages through the cache, build a local corpus, manage the cache file."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.flags import aliased, deprecated_option, progress_option
from sandbox.progress import ProgressBar
from sandbox.web import (
    CacheMode,
    ConfigurationError,
    WebCache,
    WebConfig,
    WebError,
    build_corpus,
    build_web_tools,
    default_cache_path,
)
from sandbox.web.config import PROVIDER_NAMES
from sandbox.web.corpus import CorpusFormatError, count_work
from sandbox.web.fetch import FetchLimits

app = typer.Typer(no_args_is_help=True)
cache_app = typer.Typer(no_args_is_help=True, help="Inspect, export and import the web cache file.")
app.add_typer(cache_app, name="cache")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

CACHE_HELP = "Cache file (default: $PRGYM_CACHE_DIR/web_cache.sqlite or the user cache dir)."
NAMESPACE_HELP = "Cache namespace (default: $PRGYM_WEB_NAMESPACE or 'default')."
MODE_HELP = "Cache mode: live, record, replay (cache first, live on a miss) or replay_strict (cache only)."
CORPUS_HELP = "Local corpus directory built by `prgym web build-corpus` (default: $PRGYM_CORPUS_DIR)."


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def _config(**overrides: object) -> WebConfig:
    try:
        return WebConfig.from_env(**overrides)
    except ValueError as exc:  # pydantic validation of an option or env var
        raise _fail(str(exc)) from exc


@app.command("build-corpus")
def build_corpus_cmd(
    src: Path = typer.Argument(
        ...,
        help="JSONL file ({url, title?, text|html} per line) or a directory of "
        ".jsonl / .html / .txt / .md files.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Corpus directory to create."),
    force: bool = typer.Option(False, "--force", help="Replace an existing corpus in --out."),
    progress_bar: bool = progress_option("Show the indexing progress bar."),
) -> None:
    """Index documents into a local corpus for offline `web_search` / `web_visit`."""
    try:
        total = count_work(src)
        with ProgressBar(
            TextColumn("[bold]indexing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=not progress_bar,
        ) as progress:
            task = progress.add_task("index", total=total)
            manifest = build_corpus(src, out, overwrite=force, progress=lambda n: progress.advance(task, n))
    except (WebError, CorpusFormatError) as exc:
        raise _fail(str(exc)) from exc
    console.print(
        f"corpus [bold]{out}[/]: {manifest.documents} documents "
        f"({manifest.duplicates_skipped} duplicate urls skipped), id {manifest.corpus_id[:12]}"
    )


@app.command("search")
def search_cmd(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="Search query."),
    provider: str = typer.Option(None, "--provider", help=f"One of: {', '.join(PROVIDER_NAMES)}."),
    provider_short: str = deprecated_option("-p", "--provider"),
    corpus: Path = typer.Option(None, "--corpus", help=CORPUS_HELP),
    mode: CacheMode = typer.Option(None, "--mode", help=MODE_HELP),
    cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
    namespace: str = typer.Option(None, "--namespace", help=NAMESPACE_HELP),
    n: int = typer.Option(10, "--n", "-n", min=1, max=50, help="Results to ask for."),
    num: int = deprecated_option("--num", "--n"),
    as_json: bool = typer.Option(False, "--json", help="Print the typed result as JSON."),
) -> None:
    """Run one web search through the cache and print the results."""
    provider = aliased(ctx, "provider", "provider_short", "--provider", "-p")
    n = aliased(ctx, "n", "num", "--n", "--num")
    if corpus is not None and provider is None:
        provider = "corpus"
    config = _config(
        provider=provider,
        corpus_dir=corpus,
        mode=mode,
        cache_path=cache,
        namespace=namespace,
        results_per_query=n,
    )
    try:
        tools = build_web_tools(config)
    except WebError as exc:
        raise _fail(str(exc)) from exc
    with tools:
        result = tools.web_search([query])[0]
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        source = "cache" if result.from_cache else result.provider
        console.print(f"[dim]{config.mode.value} | {source} | namespace {config.namespace}[/]")
        print(result.render())
    if result.error:
        raise typer.Exit(code=1)


@app.command("visit")
def visit_cmd(
    url: str = typer.Argument(..., help="Page url (http/https, or a url of the local corpus)."),
    goal: str = typer.Option(..., "--goal", "-g", help="What to look for on the page."),
    corpus: Path = typer.Option(None, "--corpus", help=CORPUS_HELP),
    mode: CacheMode = typer.Option(None, "--mode", help=MODE_HELP),
    cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
    namespace: str = typer.Option(None, "--namespace", help=NAMESPACE_HELP),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Per-read timeout in seconds."),
    max_bytes: int = typer.Option(5_000_000, "--max-bytes", min=1024, help="Read at most this many bytes."),
    as_json: bool = typer.Option(False, "--json", help="Print the typed result as JSON."),
) -> None:
    """Read one page through the cache and print the evidence for the goal."""
    config = _config(
        corpus_dir=corpus,
        mode=mode,
        cache_path=cache,
        namespace=namespace,
        fetch=FetchLimits(timeout_s=timeout, max_bytes=max_bytes, total_timeout_s=max(30.0, 3 * timeout)),
    )
    try:
        tools = build_web_tools(config, search=False)
    except WebError as exc:
        raise _fail(str(exc)) from exc
    with tools:
        evidence = tools.web_visit([url], goal)[0]
    if as_json:
        print(evidence.model_dump_json(indent=2))
    else:
        print(evidence.render())
    if evidence.error:
        raise typer.Exit(code=1)


def _open_cache(cache: Path | None, namespace: str | None) -> WebCache:
    config = _config(cache_path=cache, namespace=namespace)
    try:
        return WebCache(config.cache_path or default_cache_path(), namespace=config.namespace)
    except (ConfigurationError, OSError) as exc:
        raise _fail(f"cannot open the cache: {exc}") from exc


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@cache_app.command("stats")
def cache_stats_cmd(
    cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
) -> None:
    """Entries, size, hits and misses per namespace and kind."""
    with _open_cache(cache, None) as web_cache:
        stats = web_cache.stats()
    if as_json:
        print(
            json.dumps(
                {**stats.model_dump(), "entries": stats.entries, "hits": stats.hits, "misses": stats.misses}
            )
        )
        return
    table = Table(title=f"web cache {stats.path} ({stats.file_bytes / 1e6:.2f} MB on disk)")
    for column in ("namespace", "kind", "entries", "payload MB", "hits", "misses", "oldest", "newest"):
        table.add_column(
            column, justify="right" if column in ("entries", "payload MB", "hits", "misses") else "left"
        )
    for row in stats.kinds:
        table.add_row(
            row.namespace,
            row.kind,
            str(row.entries),
            f"{row.payload_bytes / 1e6:.3f}",
            str(row.hits),
            str(row.misses),
            _when(row.oldest),
            _when(row.newest),
        )
    table.add_row(
        "total", "", str(stats.entries), "", str(stats.hits), str(stats.misses), "", "", style="bold"
    )
    console.print(table)


@cache_app.command("export")
def cache_export_cmd(
    file: Path = typer.Argument(..., help="File to write (one SQLite file)."),
    cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
    namespace: str = typer.Option(None, "--namespace", help=NAMESPACE_HELP),
    all_namespaces: bool = typer.Option(False, "--all", help="Export every namespace."),
) -> None:
    """Write a frozen copy of the cache (one namespace, or all) to FILE."""
    with _open_cache(cache, namespace) as web_cache:
        count = web_cache.export(file, all_namespaces=all_namespaces)
        scope = "all namespaces" if all_namespaces else f"namespace {web_cache.namespace!r}"
    console.print(f"exported {count} entries ({scope}) to {file}")


@cache_app.command("import")
def cache_import_cmd(
    file: Path = typer.Argument(..., help="File written by `prgym web cache export`."),
    cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
    namespace: str = typer.Option(
        None, "--namespace", help="Store every entry under this namespace instead."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Entries from FILE replace newer local ones."),
) -> None:
    """Merge an exported cache file into the cache (newer entries win unless --overwrite)."""
    with _open_cache(cache, None) as web_cache:
        try:
            report = web_cache.import_file(file, overwrite=overwrite, namespace=namespace)
        except ConfigurationError as exc:
            raise _fail(str(exc)) from exc
    console.print(
        f"imported {file}: {report.inserted} new, {report.updated} updated, {report.skipped} kept (local newer), "
        f"{len(report.corrupt)} corrupt skipped"
    )
    if report.corrupt:
        raise typer.Exit(code=1)
