"""Sources in, snapshot out: the pipeline behind ``prgym catalog build``.

Products stream from the loaders into the store (memory stays flat), the snapshot id is hashed from the stored
records, then the lexical index is built from the store. The snapshot (rejects and optional dense index
included) is written to a staging directory and moved into place at the end, so a failed or interrupted build
leaves the previous snapshot as it was and never a half-written one.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel

from catalog_loader.load import iter_sources
from catalog_loader.report import Reject, SourceReport
from catalog_loader.spec import SourceSpec
from sandbox.catalog.integrity import record_files
from sandbox.catalog.lexical import build_lexical_index
from sandbox.catalog.product import Product
from sandbox.catalog.snapshot import (
    REJECTS_FILENAME,
    Snapshot,
    SnapshotManifest,
    SourceCounts,
    compute_snapshot_id,
    read_manifest,
    write_manifest,
)
from sandbox.catalog.store import ProductStoreWriter
from sandbox.progress import counting_bar


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


def staging_dir(out_dir: Path) -> Path:
    """Where a build of ``out_dir`` is written before it replaces ``out_dir`` (a fresh, empty folder)."""
    work_dir = Path(out_dir).with_name(Path(out_dir).name + ".building")
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    return work_dir


def publish_snapshot(work_dir: Path, out_dir: Path) -> None:
    """Move a finished build into place: the old snapshot stays whole until the new one is complete."""
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.replace(old)
    work_dir.replace(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def stage_snapshot(
    products: Iterable[Product],
    work_dir: Path,
    *,
    sources: Callable[[], list[SourceCounts]] = list,
    show_progress: bool = False,
) -> tuple[SnapshotManifest, float, float]:
    """Write ``products`` as a complete snapshot in the (existing) folder ``work_dir``.

    ``sources`` is called after the products are consumed, when the loaders' counts are final.
    Returns the manifest and the seconds spent loading and indexing.
    """
    writer = ProductStoreWriter(work_dir)
    with counting_bar(show_progress) as progress:
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
    manifest.files = record_files(work_dir)  # sizes and checksums, checked whenever the snapshot is opened
    write_manifest(work_dir, manifest)
    return manifest, load_seconds, index_seconds


def write_snapshot(
    products: Iterable[Product],
    out_dir: Path,
    *,
    sources: Callable[[], list[SourceCounts]] = list,
    show_progress: bool = False,
) -> tuple[SnapshotManifest, float, float]:
    """Write ``products`` as a snapshot at ``out_dir``, replacing one that is there only once it is complete."""
    out_dir = Path(out_dir)
    work_dir = staging_dir(out_dir)
    try:
        result = stage_snapshot(products, work_dir, sources=sources, show_progress=show_progress)
        publish_snapshot(work_dir, out_dir)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    return result


def build_snapshot(
    specs: Sequence[SourceSpec],
    out_dir: Path,
    *,
    show_progress: bool = False,
    before_publish: Callable[[Path], None] | None = None,
) -> BuildResult:
    """Load every source spec and write one merged snapshot; every reject goes to ``rejects.jsonl`` inside it.

    Everything is written to a staging folder first; ``before_publish(staging)`` may add to it (the dense index).
    Only a complete build replaces ``out_dir``: a failed or interrupted one leaves the previous snapshot as it
    was and no files behind.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work_dir = staging_dir(out_dir)
    try:
        with (work_dir / REJECTS_FILENAME).open("w", encoding="utf-8") as rejects_file:

            def on_reject(reject: Reject) -> None:
                rejects_file.write(reject.model_dump_json() + "\n")

            reports, products = iter_sources(specs, on_reject=on_reject)

            def counts() -> list[SourceCounts]:
                return [
                    SourceCounts.model_validate(r.model_dump(include=set(SourceCounts.model_fields)))
                    for r in reports
                ]

            manifest, load_s, index_s = stage_snapshot(
                products, work_dir, sources=counts, show_progress=show_progress
            )
        if before_publish is not None:
            before_publish(work_dir)
            manifest = read_manifest(work_dir)
        publish_snapshot(work_dir, out_dir)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    return BuildResult(
        snapshot_dir=out_dir, manifest=manifest, reports=reports, load_seconds=load_s, index_seconds=index_s
    )
