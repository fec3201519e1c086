"""Build a snapshot's dense index: embed every product (through the cache), index the vectors, record it all.

``build_dense_index`` is what ``prgym catalog build --dense`` calls once the store exists. It writes
``<snapshot>/dense/`` (vectors + cache keys, the FAISS index, the filter columns) into a staging folder that
replaces the old one only when complete, then records the dense manifest in ``manifest.json``.

Re-encoding is avoided in two ways: the snapshot's own previous ``dense/`` folder is a cache, and ``reuse_from``
names more (for example the previous snapshot when a build writes a fresh directory). With the model unchanged,
a product is encoded only if its embedded text (``product_text``) changed; an unchanged rebuild does not even
load the model. Encoding runs in chunks: when it fails or is interrupted, the vectors finished so far go to
``resume_dir`` (a cache like any other), so the next build starts where this one stopped.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from rich.console import Console

from sandbox.catalog.dense.config import DenseConfig
from sandbox.catalog.dense.embedder import Embedder, resolve_model
from sandbox.catalog.dense.embedding_cache import (
    CACHE_META,
    open_caches,
    text_keys,
    write_cache,
)
from sandbox.catalog.dense.encoders import EncoderBackend, carry_artifact
from sandbox.catalog.dense.faiss_index import DenseIndex, build_index
from sandbox.catalog.dense.filter_columns import FilterColumnsBuilder
from sandbox.catalog.dense.manifest import DENSE_DIRNAME, DENSE_EXTRAS_KEY, DenseManifest
from sandbox.catalog.dense.text import TEXT_FORMAT, product_text
from sandbox.catalog.snapshot import Snapshot
from sandbox.progress import counting_bar

#: Texts encoded between two points where an interrupted build can resume.
RESUME_CHUNK = 4096


def _cache_dir(path: Path | str) -> Path:
    """A snapshot directory means its ``dense/`` folder; anything else is taken as a cache directory itself."""
    path = Path(path)
    return path / DENSE_DIRNAME if (path / DENSE_DIRNAME / CACHE_META).is_file() else path


def build_dense_index(
    snapshot_dir: Path | str,
    config: DenseConfig | None = None,
    *,
    reuse_from: Sequence[Path | str] = (),
    progress: bool = True,
    embedder: Embedder | None = None,
    resume_dir: Path | str | None = None,
) -> DenseManifest:
    """Embed, index and record the dense index of the snapshot at ``snapshot_dir``; returns what was recorded.

    ``reuse_from``: more snapshot directories or cache directories whose vectors may be reused.
    ``embedder``: an already loaded embedder (its model overrides ``config.model``).
    ``resume_dir``: a cache folder that keeps the vectors encoded so far when encoding fails or is interrupted
    (and is read back by the next build); it is removed once the index is complete.
    """
    config = config or DenseConfig()
    snapshot = Snapshot(snapshot_dir)
    if embedder is None:
        embedder = Embedder(
            resolve_model(config.model),
            device=config.device,
            batch_size=config.batch_size,
            backend=config.backend,
            build_threads=config.encode_threads,
        )
    spec = embedder.spec
    model_key = embedder.cache_key  # a derived backend is exported / distilled here, once per machine
    started = time.perf_counter()

    texts: list[str] = []
    columns = FilterColumnsBuilder()
    for ord_, product in snapshot.store.iter_products():
        texts.append(product_text(product))
        columns.add(ord_, product)
    count = len(texts)
    if count == 0:
        raise ValueError(f"snapshot {snapshot.dir} holds no products; nothing to embed")
    keys = text_keys(model_key, texts)

    resume = _resume_caches(Path(resume_dir)) if resume_dir is not None else []
    caches = [
        c
        for c in open_caches([snapshot.dir / DENSE_DIRNAME, *(_cache_dir(p) for p in [*reuse_from, *resume])])
        if c.usable_for(model_key, None, config.dtype)
    ]
    dimension = caches[0].meta.dimension if caches else None
    vectors: np.ndarray | None = None
    found = np.zeros(count, dtype=bool)
    for cache in caches:
        if cache.meta.dimension != dimension:
            continue
        if vectors is None:
            vectors = np.zeros((count, dimension), dtype=np.float32)
        todo = np.flatnonzero(~found)
        rows = cache.lookup(keys[todo])
        hit = rows >= 0
        vectors[todo[hit]] = cache.rows(rows[hit])
        found[todo[hit]] = True
    reused = int(found.sum())

    encode_started = time.perf_counter()
    missing = np.flatnonzero(~found)
    if len(missing):
        # Encode each distinct text once (catalogs repeat titles: the same product sold by several shops).
        _, first, inverse = np.unique(keys[missing], return_index=True, return_inverse=True)
        unique_rows = missing[first]
        encoded_vectors = None
        # Each chunk goes to ``resume_dir`` as soon as it is encoded (that survives even a kill -9).
        with counting_bar(progress, console=Console(stderr=True)) as bar:
            task = bar.add_task(
                f"embedding ({spec.model_id}, {embedder.backend.value})", total=len(unique_rows), rate=""
            )

            def advance(n: int) -> None:
                bar.advance(task, n)
                elapsed = time.perf_counter() - encode_started
                bar.update(task, rate=f"{bar.tasks[0].completed / max(elapsed, 1e-9):,.0f} texts/s")

            # Chunks (shortest texts first, so batches pad little); each is saved to ``resume_dir`` at
            # once, so an interruption (or a crash) loses at most the chunk in flight.
            order = np.argsort([len(texts[i]) for i in unique_rows], kind="stable")
            for start in range(0, len(order), RESUME_CHUNK):
                part = order[start : start + RESUME_CHUNK]
                chunk = embedder.encode([texts[i] for i in unique_rows[part]], progress=advance)
                if encoded_vectors is None:
                    encoded_vectors = np.zeros((len(unique_rows), chunk.shape[1]), dtype=np.float32)
                encoded_vectors[part] = chunk
                if resume_dir is not None:
                    _save_resume_part(Path(resume_dir), model_key, keys[unique_rows[part]], chunk)
        assert encoded_vectors is not None
        if vectors is None:
            dimension = encoded_vectors.shape[1]
            vectors = np.zeros((count, dimension), dtype=np.float32)
        elif encoded_vectors.shape[1] != dimension:
            raise ValueError(
                f"model {spec.model_id} makes {encoded_vectors.shape[1]}-dimensional vectors but the cache "
                f"recorded {dimension} for the same model key; delete {snapshot.dir / DENSE_DIRNAME} and rebuild"
            )
        vectors[missing] = encoded_vectors[inverse.reshape(-1)]
        texts_encoded = len(unique_rows)
    else:
        texts_encoded = 0
    encode_seconds = time.perf_counter() - encode_started
    assert vectors is not None and dimension is not None
    if config.dtype == "float16":
        vectors = vectors.astype(np.float16).astype(np.float32)  # index exactly what the cache stores

    staging = snapshot.dir / (DENSE_DIRNAME + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    with Console(stderr=True).status("building the FAISS index") if progress else nullcontext():
        index, params = build_index(vectors, config)
        DenseIndex(index, params).save(staging)
        del index
    write_cache(staging, model_key, keys, vectors, config.dtype)
    columns.finish().save(staging)
    if embedder.backend is not EncoderBackend.torch:
        carry_artifact(embedder.artifact_dir, staging)

    final = snapshot.dir / DENSE_DIRNAME
    old = snapshot.dir / (DENSE_DIRNAME + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.replace(old)
    staging.replace(final)
    shutil.rmtree(old, ignore_errors=True)

    manifest = DenseManifest(
        model=spec,
        backend=embedder.backend,
        backend_fingerprint=embedder.backend_fingerprint,
        dimension=int(dimension),
        dtype=config.dtype,
        text_format=TEXT_FORMAT,
        count=count,
        index=params,
        encoded=count - reused,
        texts_encoded=texts_encoded,
        reused=reused,
        encode_seconds=round(encode_seconds, 3),
        build_seconds=round(time.perf_counter() - started, 3),
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    snapshot.update_extras(DENSE_EXTRAS_KEY, manifest.model_dump(mode="json"), files_under=DENSE_DIRNAME)
    if resume_dir is not None:
        shutil.rmtree(resume_dir, ignore_errors=True)
    return manifest


def _resume_caches(directory: Path) -> list[Path]:
    """The resume folder's caches: one per saved chunk (``part-*``), plus a whole-folder cache if any."""
    if not directory.is_dir():
        return []
    return [directory, *sorted(p for p in directory.glob("part-*") if p.is_dir())]


def _save_resume_part(directory: Path, model_key: str, keys: np.ndarray, vectors: np.ndarray) -> None:
    """Write one freshly encoded chunk as its own small cache (``part-N``): no rewrite of earlier chunks."""
    directory.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in directory.glob("part-*")}
    n = len(taken)
    while f"part-{n:05d}" in taken:
        n += 1
    staging = directory / f".part-{n:05d}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    write_cache(staging, model_key, keys, vectors, "float32")
    staging.replace(directory / f"part-{n:05d}")
