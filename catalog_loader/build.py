"""Sources in, snapshot out: the pipeline behind ``prgym catalog build``.

Products stream from the loaders into the store (memory stays flat), the snapshot id is hashed from the stored
records, then the lexical index is built from the store. The snapshot is written to a temporary directory and
moved into place at the end, so an interrupted build never leaves a half-written snapshot behind.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from catalog_loader.load import iter_sources
from catalog_loader.report import Reject, SourceReport
from catalog_loader.spec import SourceSpec
from sandbox.catalog.lexical import build_lexical_index
from sandbox.catalog.product import Product
from sandbox.catalog.snapshot import (
    REJECTS_FILENAME,
    Snapshot,
    SnapshotManifest,
    SourceCounts,
    compute_snapshot_id,
    write_manifest,
)
from sandbox.catalog.store import ProductStoreWriter
from sandbox.progress import ProgressBar


class BuildResult(BaseModel):
    """What a build produced and how long each stage took."""

    snapshot_dir: Path
    manifest: SnapshotManifest
    reports: list[SourceReport]
    load_seconds: float
    index_seconds: float

    @property
    def products_per_second(self) -> float:
        return self.manifest.n_products / max(self.load_seconds + self.index_seconds, 1e-9)


def _progress(enabled: bool) -> Progress:
    return ProgressBar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )


def write_snapshot(
    products: Iterable[Product],
    out_dir: Path,
    *,
    sources: Callable[[], list[SourceCounts]] = list,
    show_progress: bool = False,
) -> tuple[SnapshotManifest, float, float]:
    """Write ``products`` as a snapshot at ``out_dir`` (replacing one that is there).

    ``sources`` is called after the products are consumed, when the loaders' counts are final.
    Returns the manifest and the seconds spent loading and indexing.
    """
    out_dir = Path(out_dir)
    work_dir = out_dir.with_name(out_dir.name + ".building")
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    writer = ProductStoreWriter(work_dir)
    with _progress(show_progress) as progress:
        started = time.perf_counter()
        task = progress.add_task("loading products", total=None, rate="")
        count = 0
        try:
            for product in products:
                writer.add(product)
                count += 1
                if count % 5000 == 0:
                    rate = count / (time.perf_counter() - started)
                    progress.update(task, completed=count, rate=f"{rate:,.0f}/s")
        except BaseException:
            writer.abort()
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
        n_products = writer.finish()
        progress.update(task, completed=count, total=count, rate="")
        load_seconds = time.perf_counter() - started

        started = time.perf_counter()
        manifest = SnapshotManifest(snapshot_id="pending", n_products=n_products, sources=sources())
        write_manifest(work_dir, manifest)
        snapshot = Snapshot(work_dir)
        manifest.snapshot_id = compute_snapshot_id(snapshot.store)
        task = progress.add_task("indexing (tantivy BM25)", total=n_products, rate="")
        manifest.lexical = build_lexical_index(snapshot, progress=lambda n: progress.advance(task, n))
        index_seconds = time.perf_counter() - started
    write_manifest(work_dir, manifest)
    shutil.rmtree(out_dir, ignore_errors=True)
    work_dir.replace(out_dir)
    return manifest, load_seconds, index_seconds


def build_snapshot(specs: Sequence[SourceSpec], out_dir: Path, *, show_progress: bool = False) -> BuildResult:
    """Load every source spec and write one merged snapshot; every reject goes to ``rejects.jsonl`` inside it."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    rejects_tmp = out_dir.with_name(out_dir.name + ".rejects.jsonl")
    with rejects_tmp.open("w", encoding="utf-8") as rejects_file:

        def on_reject(reject: Reject) -> None:
            rejects_file.write(reject.model_dump_json() + "\n")

        reports, products = iter_sources(specs, on_reject=on_reject)

        def counts() -> list[SourceCounts]:
            return [
                SourceCounts.model_validate(r.model_dump(include=set(SourceCounts.model_fields)))
                for r in reports
            ]

        manifest, load_s, index_s = write_snapshot(
            products, out_dir, sources=counts, show_progress=show_progress
        )
    rejects_tmp.replace(out_dir / REJECTS_FILENAME)
    return BuildResult(
        snapshot_dir=out_dir, manifest=manifest, reports=reports, load_seconds=load_s, index_seconds=index_s
    )
