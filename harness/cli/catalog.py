"""`prgym catalog` commands: build a snapshot from real data, search it, show a product, print stats."""

from __future__ import annotations

import dataclasses
import json
import os
from decimal import Decimal
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from harness.cli.errors import describe_validation_error
from harness.flags import aliased, deprecated_option, deprecation_note
from sandbox.catalog.search import SearchFilters, SearchMode, SearchRequest, SortOrder
from sandbox.errors import UserError

app = typer.Typer(no_args_is_help=True)
console = Console()

CATALOG_OPTION = typer.Option(
    None, "--catalog", help="Catalog snapshot directory (required).", show_default=False
)
#: The snapshot as the first positional argument: the old spelling of --catalog, still read (with a note).
LEGACY_SNAPSHOT_ARGUMENT = typer.Argument(None, hidden=True, metavar="SNAPSHOT", show_default=False)


def _names_a_folder(word: str) -> bool:
    """Whether the first word of ``catalog search`` is the old positional SNAPSHOT rather than the query."""
    return Path(word).is_dir() or os.sep in word


def snapshot_of(catalog: Path | None, positional: str | Path | None, command: str) -> Path:
    """The snapshot of a ``catalog`` sub-command: ``--catalog``, or the old positional spelling (with a note)."""
    if positional is not None:
        if catalog is not None:
            raise UserError(f"catalog {command}: give the snapshot once, as --catalog DIR")
        deprecation_note(f"catalog {command} SNAPSHOT", f"catalog {command} --catalog SNAPSHOT")
        return Path(positional)
    if catalog is None:
        raise UserError(
            f"catalog {command}: --catalog DIR is required (the snapshot directory)",
            hint="build one with `prgym catalog build --out DIR`",
        )
    return catalog


@app.command()
def build(
    ctx: typer.Context,
    out: Path = typer.Option(
        ..., "--out", "-o", help="Snapshot directory to write (e.g. snapshots/combined)."
    ),
    preset: list[str] = typer.Option(
        None, "--preset", help="Preset source(s), repeatable; default: every catalog in the data home."
    ),
    preset_short: list[str] = deprecated_option("-p", "--preset"),
    spec: list[Path] = typer.Option(None, "--spec", help="Source spec file(s) (JSON or TOML)."),
    data_dir: Path = typer.Option(
        None,
        "--data-dir",
        help="Folder with the sample datasets (default: $PRGYM_DATA_DIR or the data home).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    force: bool = typer.Option(
        False, "--force", help="Replace a snapshot at --out that was built from other sources."
    ),
    dense: bool = typer.Option(
        False, "--dense", help="Also embed the products and build the FAISS index (needs prgym[dense])."
    ),
    dense_model: str = typer.Option(
        None, help="Embedding model id or local path (default: all-MiniLM-L6-v2)."
    ),
    dense_dtype: str = typer.Option(
        "float32", help="Stored vector type: float32 or float16 (half the memory)."
    ),
    dense_index: str = typer.Option(
        "auto", help="FAISS index: auto (exact below a size, HNSW above), flat, hnsw, ivf."
    ),
    dense_backend: str = typer.Option(
        "onnx-int8",
        help="Encoder: onnx-int8 (default; torch's recall, several times faster), onnx, torch, or static "
        "(needs prgym[dense-fast]).",
    ),
) -> None:
    """Load sources into one catalog snapshot and print per-source counts and rejects.

    The new snapshot (and its dense index) is written aside and replaces --out only when complete: a failed or
    interrupted build leaves the previous one usable, and vectors encoded before an interruption are kept in
    ``<out>.dense-partial/`` for the next run.
    """
    from catalog_loader.build import build_snapshot
    from catalog_loader.datasets import DATASET_NAMES
    from catalog_loader.fetch import ensure_datasets
    from catalog_loader.presets import SHARED_PRESETS, UnknownPresetError, preset_names
    from catalog_loader.presets import preset as preset_specs
    from catalog_loader.spec import load_spec_file

    names = list(aliased(ctx, "preset", "preset_short", "--preset", "-p") or [])
    unknown = [n for n in names if n not in preset_names()]
    if unknown:
        raise UnknownPresetError(
            f"unknown preset {', '.join(map(repr, unknown))}",
            hint=f"valid presets: {', '.join(preset_names())}",
        )
    dense_config = _dense_config(dense_model, dense_dtype, dense_index, dense_backend) if dense else None
    if dense:  # check the extra before building anything
        from sandbox.catalog.dense.embedder import check_dense_dependencies

        check_dense_dependencies(default_model=dense_model is None)
        from sandbox.catalog.dense.encoders import EncoderBackendError, backend_available, install_hint

        if not backend_available(dense_config.backend):
            raise EncoderBackendError(
                f"--dense-backend {dense_config.backend.value}: its packages are not installed",
                hint=install_hint(dense_config.backend),
            )
    specs = []
    for path in spec or []:
        specs.extend(load_spec_file(path))
    every_shared = not names and not specs
    if every_shared:
        names = list(SHARED_PRESETS)
    if names:
        # Sample datasets are fetched (and verified) on first use; a folder that already holds them is used as is.
        wanted = [n for n in names if n in DATASET_NAMES]
        root = (
            _fetch_every_shared(wanted, data_dir, progress)
            if every_shared
            else ensure_datasets(wanted, data_dir, progress=progress)
        )
        for name in names:
            specs.extend(preset_specs(name, root))
    check_replaceable(out, sorted({s.name for s in specs}), force=force)

    resume = out.with_name(out.name + ".dense-partial")

    dense_lines: list[str] = []

    def add_dense(staging: Path) -> None:
        # The previous snapshot's vectors (and an interrupted run's) are a cache: unchanged products are not
        # encoded again.
        dense_lines.append(_build_dense(staging, dense_config, [out], resume, progress))

    try:
        result = build_snapshot(
            specs, out, show_progress=progress, before_publish=(add_dense if dense else None)
        )
    except KeyboardInterrupt:
        kept = f"; the vectors encoded so far are kept in {resume}" if dense and resume.is_dir() else ""
        state = (
            f"the previous snapshot at {out} is unchanged"
            if out.exists()
            else f"nothing was written to {out}"
        )
        raise UserError(f"interrupted: {state}{kept}", hint="run the same command again to resume") from None
    _print_build_summary(result)
    for line in dense_lines:
        console.print(line)


def _fetch_every_shared(names: list[str], data_dir: Path | None, progress: bool) -> Path:
    """The data home for a build of every shared dataset (no ``--preset``/``--spec``), with errors that say why.

    The downloadable datasets are fetched first, so without network access the error says the network is the
    problem; a derived dataset (Home Depot), which no download can provide, is reported after that with the
    ``--preset`` list that builds everything else.
    """
    from catalog_loader.datahome import DATA_DIR_ENV
    from catalog_loader.fetch import DerivedDatasetError, NetworkUnavailableError, fetch_datasets

    try:
        report = fetch_datasets(names, data_dir, progress=progress, skip_derived=True)
    except NetworkUnavailableError as exc:
        raise NetworkUnavailableError(
            f"the sample data is not in the data home and cannot be downloaded: {exc.message}",
            hint="a build with no --preset needs every shared dataset; --preset NAME (repeatable) builds only the "
            "catalogs you name",
        ) from exc
    if report.skipped_derived:
        rest = [n for n in names if n not in report.skipped_derived]
        derived = ", ".join(report.skipped_derived)
        raise DerivedDatasetError(
            f"with no --preset, catalog build needs every shared dataset, and {derived} cannot be downloaded "
            f"(derived data, not published as such); it is not in the data home {report.data_dir}",
            hint=f"set {DATA_DIR_ENV} (or --data-dir) to a folder holding it (e.g. ../shared/data), or build the "
            "rest with " + " ".join(f"--preset {n}" for n in rest),
        )
    return report.data_dir


def check_replaceable(out: Path, sources: list[str], *, force: bool) -> None:
    """Refuse to replace a folder that is not a snapshot, or (without ``--force``) one built from other sources."""
    if not out.exists():
        return
    from sandbox.catalog.snapshot import MANIFEST_FILENAME, read_manifest

    if not out.is_dir() or (not (out / MANIFEST_FILENAME).is_file() and any(out.iterdir())):
        raise UserError(
            f"{out} exists and is not a catalog snapshot; nothing was written",
            hint="choose another --out",
        )
    if force or not (out / MANIFEST_FILENAME).is_file():
        return
    try:
        built_from = sorted({s.source for s in read_manifest(out).sources})
    except UserError:
        built_from = []
    if built_from != sources:
        had = ", ".join(built_from) or "unreadable sources"
        raise UserError(
            f"{out} holds a snapshot built from {had}, not from {', '.join(sources)}; nothing was written",
            hint="choose another --out, or pass --force to replace it",
        )


def _dense_config(model: str | None, dtype: str, index: str, backend: str = "onnx-int8"):
    from sandbox.catalog.dense import DenseConfig

    settings = {"dtype": dtype, "index": index, "backend": backend} | ({"model": model} if model else {})
    try:
        return DenseConfig(**settings)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, "dense settings")) from exc


def _build_dense(staging: Path, config, reuse: list[Path], resume: Path, progress: bool) -> str:
    from sandbox.catalog.dense import build_dense_index

    manifest = build_dense_index(
        staging, config, reuse_from=[p for p in reuse if p.is_dir()], progress=progress, resume_dir=resume
    )
    # build_seconds already includes the encoding (it is the whole dense step).
    return (
        f"dense index: {manifest.count:,} vectors of {manifest.dimension} dims ({manifest.dtype}, "
        f"{getattr(manifest.index.kind, 'value', manifest.index.kind)}), model {manifest.model.model_id} "
        f"({manifest.backend.value}); "
        f"encoded {manifest.encoded:,}, reused {manifest.reused:,} in {manifest.build_seconds:.1f} s "
        f"(encoding {manifest.encode_seconds:.1f} s)"
    )


def _print_build_summary(result) -> None:
    table = Table(title=f"snapshot {result.manifest.snapshot_id}  ({result.snapshot_dir})")
    for column in ("source", "read", "loaded", "rejected", "duplicates"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for r in result.reports:
        table.add_row(r.source, f"{r.read:,}", f"{r.loaded:,}", f"{r.rejected:,}", f"{r.duplicates:,}")
    table.add_row(
        "[bold]total",
        *(
            f"[bold]{sum(getattr(r, c) for r in result.reports):,}"
            for c in ("read", "loaded", "rejected", "duplicates")
        ),
    )
    console.print(table)
    for r in result.reports:
        for reject in r.first_rejects[:3]:
            console.print(
                f"  reject {reject.source} {Path(reject.file).name}:{reject.line} "
                f"field={reject.field or '-'}: {reject.reason}"
            )
    console.print(
        f"{result.manifest.n_products:,} products in {result.load_seconds + result.index_seconds:.1f} s "
        f"({result.products_per_second:,.0f} products/s); rejects listed in "
        f"{result.snapshot_dir / 'rejects.jsonl'}"
    )


def _open_backend(snapshot: Path, mode: SearchMode, es: str | None = None, index: str | None = None):
    if es is not None:
        from sandbox.catalog.elasticsearch import ElasticsearchBackend, EsSettings
        from sandbox.catalog.snapshot import Snapshot

        settings = EsSettings.from_env(es, **({"alias": index} if index else {}))
        return ElasticsearchBackend(settings, snapshot_id=Snapshot(snapshot).snapshot_id)
    from sandbox.catalog.lexical import TantivyBackend

    if mode is SearchMode.lexical:
        return TantivyBackend(snapshot)
    from sandbox.catalog.dense import open_hybrid_backend

    return open_hybrid_backend(snapshot)


@app.command()
def search(
    words: list[str] = typer.Argument(
        None,
        metavar="[QUERY]...",
        help="Query text, quoted or not (empty: browse by filters).",
        show_default=False,
    ),
    catalog: Path = CATALOG_OPTION,
    price_min: float = typer.Option(None, help="Lowest price."),
    price_max: float = typer.Option(None, help="Highest price."),
    brand: list[str] = typer.Option(None, "--brand", help="Brand (repeat for any of several)."),
    category: str = typer.Option(None, help='Category prefix, e.g. "Electronics > Audio".'),
    shop: str = typer.Option(None, help="Shop id."),
    min_rating: float = typer.Option(None, help="Lowest rating."),
    service: list[str] = typer.Option(None, "--service", help="Required service (repeatable)."),
    in_stock: bool = typer.Option(None, "--in-stock/--out-of-stock", help="Stock status."),
    source: str = typer.Option(None, help="Only this dataset."),
    sort: SortOrder = typer.Option(SortOrder.relevance, help="Result order."),
    mode: SearchMode = typer.Option(SearchMode.lexical, help="Retriever."),
    page: int = typer.Option(1, min=1),
    page_size: int = typer.Option(10, min=1, max=100),
    as_json: bool = typer.Option(False, "--json", help="Print the raw result as JSON."),
    es: str = typer.Option(
        None, "--es", help="Search the snapshot's index on this Elasticsearch cluster (after catalog push)."
    ),
    index: str = typer.Option(None, "--index", help="Alias the snapshot was pushed under (with --es)."),
) -> None:
    """Search a snapshot with filters and print a page of hits (embedded indexes, or Elasticsearch with --es)."""
    words = list(words or [])
    legacy = words.pop(0) if catalog is None and words and _names_a_folder(words[0]) else None
    snapshot = snapshot_of(catalog, legacy, "search")
    query = " ".join(words)
    try:
        filters = SearchFilters(
            price_min=price_min,
            price_max=price_max,
            brands=brand or [],
            category=category,
            shop_id=shop,
            min_rating=min_rating,
            services=service or [],
            in_stock=in_stock,
            source=source,
        )
        request = SearchRequest(
            query=query, filters=filters, sort=sort, mode=mode, page=page, page_size=page_size
        )
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, "search")) from exc
    backend = _open_backend(snapshot, mode, es, index)
    result = backend.search(request)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    products = backend.get_products([h.product_id for h in result.hits])
    rows = []
    for rank, (hit, product) in enumerate(zip(result.hits, products, strict=False), start=request.offset + 1):
        assert product is not None
        rows.append(
            {
                "#": str(rank),
                "product_id": hit.product_id,
                "score": f"{hit.score:.3f}",
                "title": product.title[:70],
                "brand": product.brand or "",
                "price": _price(product.price, product.currency),
                "rating": "" if product.rating is None else f"{product.rating:.1f}",
            }
        )
    console.print(results_table(rows, f"{result.total:,} matches, page {result.page}", console.width))
    if result.note:
        console.print(f"note: {result.note}")
    if not result.hits and result.total > 0:
        pages = -(-result.total // request.page_size)
        console.print(f"page {request.page} is past the end: {result.total:,} matches fill {pages:,} page(s)")


#: Columns dropped, in this order, when the terminal is too narrow to show every product id whole.
_DROPPABLE_COLUMNS = ("rating", "brand", "score", "#")
_RESULT_COLUMNS = ("#", "product_id", "score", "title", "brand", "price", "rating")


def results_table(rows: list[dict[str, str]], title: str, width: int) -> Table:
    """The search results as a table that never cuts a product id: ids are what the user copies next.

    The id column never wraps and is as wide as the longest id; when the other columns do not fit beside it
    (titles keep at least 16 characters), rating, brand, score and rank are dropped in that order.
    """
    id_width = max([len("product_id"), *(len(r["product_id"]) for r in rows)])
    columns = list(_RESULT_COLUMNS)

    def needed(cols: list[str]) -> int:
        # Each column takes its content plus 3 characters of padding and border; wrapped columns get a floor.
        floors = {"title": 16, "product_id": id_width, "price": 8}
        total = 1
        for col in cols:
            content = max([len(col), *(len(r[col]) for r in rows)])
            total += min(content, floors.get(col, content)) if col != "product_id" else id_width
            total += 3
        return total

    for column in _DROPPABLE_COLUMNS:
        if needed(columns) <= width:
            break
        columns.remove(column)
    table = Table(title=title)
    for column in columns:
        if column == "product_id":
            table.add_column(column, no_wrap=True, min_width=id_width)
        elif column == "title":
            table.add_column(column, ratio=1, min_width=8)
        else:
            table.add_column(column)
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    return table


def _price(price: Decimal | None, currency: str | None) -> str:
    return "" if price is None else f"{price} {currency or ''}".strip()


def product_table(product) -> Table:
    """One product's main fields, one per row (``--json`` prints every field)."""
    table = Table(title=product.product_id, show_header=False, title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    rating = (
        f"{product.rating:.1f}" + (f" ({product.review_count:,} reviews)" if product.review_count else "")
        if product.rating is not None
        else ""
    )
    stock = {True: "in stock", False: "out of stock", None: ""}[product.in_stock]
    rows = [
        ("title", product.title),
        ("brand", product.brand or ""),
        ("price", _price(product.price, product.currency)),
        ("rating", rating),
        ("category", " > ".join(product.category_path)),
        ("shop", product.shop_id or ""),
        ("stock", stock),
        ("services", ", ".join(product.services)),
        ("source", product.source),
        ("url", product.url or ""),
    ]
    rows += [(name, ", ".join(values)) for name, values in list(product.attributes.items())[:12]]
    for name, value in rows:
        if value:
            table.add_row(name, value)
    return table


@app.command()
def push(
    catalog: Path = typer.Option(None, "--catalog", help="Snapshot directory to index (required)."),
    snapshot_arg: Path = LEGACY_SNAPSHOT_ARGUMENT,
    es: str = typer.Option(
        None,
        "--es",
        help="Elasticsearch URL (default: $PRGYM_ES_URL). Credentials: PRGYM_ES_API_KEY, or "
        "PRGYM_ES_USERNAME/PRGYM_ES_PASSWORD (ELASTIC_PASSWORD), PRGYM_ES_CA_CERTS.",
    ),
    index: str = typer.Option(
        "prgym-catalog", "--index", help="Alias to point at the snapshot's index (<alias>-<snapshot id>)."
    ),
    shards: int = typer.Option(1, "--shards", min=1, help="Primary shards of a new index."),
    replicas: int = typer.Option(0, "--replicas", min=0, help="Replicas of a new index."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the push report as JSON."),
) -> None:
    """Index a snapshot into Elasticsearch (resumable: a rerun sends only what is missing), then swap the alias."""
    from sandbox.catalog.elasticsearch import EsSettings, push_snapshot

    snapshot = snapshot_of(catalog, snapshot_arg, "push")
    try:
        settings = EsSettings.from_env(es, alias=index, shards=shards, replicas=replicas)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, "push")) from exc
    report = push_snapshot(snapshot, settings, progress=progress)
    if as_json:
        typer.echo(
            json.dumps(dataclasses.asdict(report) | {"docs_per_second": report.docs_per_second}, indent=2)
        )
    else:
        for doc_id, reason in report.failures:
            console.print(f"[red]failed[/] {doc_id}: {reason}")
        state = "complete" if report.complete else "[red]INCOMPLETE[/]"
        console.print(
            f"{report.index}: {report.indexed:,} indexed, {report.skipped:,} already there, "
            f"{len(report.failures):,} failed of {report.n_products:,} ({report.docs_per_second:,.0f} docs/s); "
            f"index {state}" + (f", alias {report.alias} -> {report.index}" if report.complete else "")
        )
    if not report.complete:
        if not as_json:
            console.print("rerun the same command to index what is missing")
        raise typer.Exit(1)


@app.command()
def show(
    ids: list[str] = typer.Argument(..., metavar="PRODUCT_ID", help="Product id, e.g. bestbuy:4984700."),
    catalog: Path = CATALOG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the full record as JSON."),
) -> None:
    """Print one product: its main fields, or its full record with --json."""
    from sandbox.catalog.snapshot import Snapshot

    ids = list(ids)
    legacy = ids.pop(0) if catalog is None and len(ids) == 2 else None
    snapshot = snapshot_of(catalog, legacy, "show")
    if len(ids) != 1:
        raise UserError(f"catalog show: expected one PRODUCT_ID, got {len(ids)}")
    product_id = ids[0]
    (product,) = Snapshot(snapshot).store.get([product_id])
    if product is None:
        raise UserError(
            f"no product {product_id!r} in {snapshot}",
            hint=f'find ids with `prgym catalog search --catalog {snapshot} "QUERY"`',
        )
    if as_json:
        typer.echo(product.model_dump_json(indent=2, exclude_defaults=True))
        return
    console.print(product_table(product))


@app.command()
def stats(
    catalog: Path = CATALOG_OPTION,
    snapshot_arg: Path = LEGACY_SNAPSHOT_ARGUMENT,
    as_json: bool = typer.Option(False, "--json", help="Print the manifest and size as one JSON object."),
) -> None:
    """Print the manifest: id, counts per source, index settings, size on disk."""
    from sandbox.catalog.snapshot import Snapshot

    snap = Snapshot(snapshot_of(catalog, snapshot_arg, "stats"))
    manifest = snap.manifest
    size = sum(p.stat().st_size for p in snap.dir.rglob("*") if p.is_file())
    if as_json:
        typer.echo(
            json.dumps({"path": str(snap.dir), "size_bytes": size, **manifest.model_dump(mode="json")})
        )
        return
    console.print(
        f"[bold]{manifest.snapshot_id}[/]  {manifest.n_products:,} products, {size / 1e6:.1f} MB on disk"
    )
    table = Table()
    for column in ("source", "read", "loaded", "rejected", "duplicates"):
        table.add_column(column)
    for s in manifest.sources:
        table.add_row(s.source, f"{s.read:,}", f"{s.loaded:,}", f"{s.rejected:,}", f"{s.duplicates:,}")
    console.print(table)
    console.print_json(json.dumps({"lexical": manifest.lexical, "extras": manifest.extras}))


@app.command()
def verify(
    catalog: Path = CATALOG_OPTION,
    snapshot_arg: Path = LEGACY_SNAPSHOT_ARGUMENT,
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Check a snapshot fully: every file's checksum, the product store, every record, the id and the index.

    Prints one line per problem and exits 2 when there is any (opening a snapshot only checks sizes and the
    smallest files; this reads everything).
    """
    from sandbox.catalog.integrity import verify_snapshot
    from sandbox.catalog.snapshot import MANIFEST_FILENAME, STORE_FILENAME, read_manifest_raw

    snapshot = snapshot_of(catalog, snapshot_arg, "verify")
    if not (snapshot / MANIFEST_FILENAME).is_file() and not (snapshot / STORE_FILENAME).exists():
        read_manifest_raw(snapshot)  # no snapshot here at all (not a damaged one): its one-line error
    report = verify_snapshot(snapshot)
    if as_json:
        typer.echo(report.model_dump_json())
    else:
        for warning in report.warnings:
            typer.echo(f"warning: {warning}")
        for problem in report.problems:
            typer.echo(f"problem: {problem}")
        if report.ok:
            typer.echo(
                f"ok: {report.snapshot_id} ({snapshot}): {report.files_checked} files, "
                f"{report.bytes_hashed / 1e6:.1f} MB hashed, {report.products_checked:,} product records "
                f"checked in {report.seconds:.1f} s"
            )
        else:
            count = len(report.problems)
            typer.echo(
                f"damaged: {snapshot} has {count} problem{'s' if count > 1 else ''}; rebuild it with "
                f"`prgym catalog build --out {snapshot}`",
                err=True,
            )
    if not report.ok:
        raise typer.Exit(2)
