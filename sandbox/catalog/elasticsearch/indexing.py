"""Pushing a snapshot into Elasticsearch: one index per snapshot, resumable bulk loading, an atomic alias swap.

1. The index ``<alias>-<snapshot id>`` is created with the explicit mapping (or found, when a push resumes).
2. The ordinals already in it are read back (a sorted ``search_after`` scan over ``ord``), and only the missing
   products are sent, with ``helpers.streaming_bulk``: documents rejected with 429 (the cluster is saturated)
   are retried with exponential backoff; every document that still fails is reported with its reason.
3. When the index holds every product, ``_meta.complete`` is set and the alias moves to it in one
   ``_aliases`` call (remove from the old index + add to the new), so searches never see a half-built catalog.

An interrupted push is finished by running it again: nothing already indexed is sent twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sandbox import __version__
from sandbox.catalog.elasticsearch.client import EsSettings, call, make_client, translate_error
from sandbox.catalog.elasticsearch.errors import EsBackendError
from sandbox.catalog.elasticsearch.mapping import document, index_mapping, index_name, index_settings
from sandbox.catalog.elasticsearch.response import bulk_failure, parse_hits
from sandbox.catalog.snapshot import Snapshot

SCAN_PAGE = 10_000


@dataclass
class PushReport:
    """What a push did: ``sent = indexed + len(failures)``; ``skipped`` were already in the index."""

    index: str
    alias: str
    snapshot_id: str
    n_products: int
    indexed: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = False
    vectors: bool = False

    @property
    def docs_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0


def _dense_vectors(snapshot: Snapshot) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The snapshot's vectors in ordinal order (memory-mapped) and the dense record, if it has a dense index."""
    from sandbox.catalog.dense.embedding_cache import EmbeddingCache
    from sandbox.catalog.dense.manifest import DENSE_DIRNAME, DenseIndexMissingError, read_dense_manifest

    try:
        manifest = read_dense_manifest(snapshot)
    except DenseIndexMissingError:
        return None, {}
    cache = EmbeddingCache.open(snapshot.dir / DENSE_DIRNAME)
    if cache is None or len(cache) != len(snapshot):
        raise EsBackendError(
            f"snapshot {snapshot.dir}: the dense vectors are unreadable; rebuild the dense index"
        )
    record = {
        "model": manifest.model.model_dump(mode="json"),
        "dimension": manifest.dimension,
        "backend": manifest.backend.value,  # queries are encoded with the same runtime (static is another space)
    }
    return cache.vectors, record


def existing_ords(client: Any, index: str, url: str) -> set[int]:
    """Ordinals already indexed (a sorted scan; the index is immutable per snapshot, so no point in time)."""
    found: set[int] = set()
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {
            "query": {"match_all": {}},
            "sort": [{"ord": "asc"}],
            "size": SCAN_PAGE,
            "_source": ["ord"],
            "track_total_hits": False,
        }
        if after is not None:
            body["search_after"] = after
        hits = parse_hits(
            call("scanning indexed products", url, partial(client.search, index=index, body=body))
        )
        found.update(h.ord for h in hits)
        if len(hits) < SCAN_PAGE:
            return found
        after = hits[-1].sort


def _actions(
    snapshot: Snapshot, index: str, skip: set[int], vectors: np.ndarray | None
) -> Iterator[dict[str, Any]]:
    for ord_, product in snapshot.store.iter_products():
        if ord_ in skip:
            continue
        vector = None if vectors is None else np.asarray(vectors[ord_], dtype=np.float32).tolist()
        yield {
            "_op_type": "index",
            "_index": index,
            "_id": product.product_id,
            "_source": document(ord_, product, vector),
        }


def push_snapshot(
    snapshot_dir: Path | str,
    settings: EsSettings,
    *,
    client: Any = None,
    progress: bool = True,
    chunk_size: int = 500,
    max_retries: int = 5,
    initial_backoff: float = 2.0,
    max_backoff: float = 120.0,
    swap_alias: bool = True,
) -> PushReport:
    """Index ``snapshot_dir`` into the cluster (resuming if a previous push was interrupted); see module doc."""
    from elasticsearch import helpers

    snapshot = Snapshot(snapshot_dir)
    client = client if client is not None else make_client(settings)
    url = settings.url
    index = index_name(settings.alias, snapshot.snapshot_id)
    vectors, dense = _dense_vectors(snapshot)
    report = PushReport(
        index=index,
        alias=settings.alias,
        snapshot_id=snapshot.snapshot_id,
        n_products=len(snapshot),
        vectors=vectors is not None,
    )
    started = time.perf_counter()
    exists = call("checking the index", url, lambda: bool(client.indices.exists(index=index)))
    if not exists:
        meta = {
            "snapshot_id": snapshot.snapshot_id,
            "n_products": len(snapshot),
            "prgym_version": __version__,
            "dense": dense or None,
            "complete": False,
        }
        call(
            f"creating index {index}",
            url,
            lambda: client.indices.create(
                index=index,
                settings=index_settings(shards=settings.shards, replicas=settings.replicas)
                | {"refresh_interval": "-1"},
                mappings=index_mapping(dimension=dense.get("dimension"), meta=meta),
            ),
        )
        skip: set[int] = set()
    else:
        skip = existing_ords(client, index, url)
    report.skipped = len(skip)
    todo = len(snapshot) - len(skip)
    bar = Progress(
        TextColumn("[bold]indexing into " + index),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    with bar:
        task = bar.add_task("push", total=todo)
        results = helpers.streaming_bulk(
            client,
            _actions(snapshot, index, skip, vectors),
            chunk_size=chunk_size,
            max_retries=max_retries,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            raise_on_error=False,
            raise_on_exception=False,
        )
        try:
            for ok, item in results:
                if ok:
                    report.indexed += 1
                else:
                    report.failures.append(bulk_failure(item))
                bar.advance(task)
        except Exception as exc:  # a transport error outside any item: translate it like every other call
            translated = translate_error(exc, "bulk indexing", url)
            if translated is exc:
                raise
            raise translated from exc
    call("refreshing the index", url, lambda: client.indices.refresh(index=index))
    count = int(call("counting documents", url, lambda: client.count(index=index))["count"])
    report.seconds = time.perf_counter() - started
    if count == len(snapshot) and not report.failures:
        call(
            "marking the index complete",
            url,
            lambda: client.indices.put_mapping(
                index=index, meta=_complete_meta(client, index, url), dynamic="strict"
            ),
        )
        call(
            "restoring the refresh interval",
            url,
            lambda: client.indices.put_settings(index=index, settings={"index": {"refresh_interval": None}}),
        )
        report.complete = True
        if swap_alias:
            swap(client, settings.alias, index, url)
    return report


def _complete_meta(client: Any, index: str, url: str) -> dict[str, Any]:
    mapping = call("reading the mapping", url, lambda: client.indices.get_mapping(index=index))
    meta = dict(mapping[index]["mappings"].get("_meta") or {})
    meta["complete"] = True
    return meta


def swap(client: Any, alias: str, index: str, url: str) -> list[str]:
    """Point ``alias`` at ``index`` alone, atomically; returns the indices it pointed at before."""
    current = list(
        call(
            f"reading alias {alias}",
            url,
            lambda: client.options(ignore_status=404).indices.get_alias(name=alias).body,
        )
    )
    current = [name for name in current if name not in ("error", "status")]  # a 404 body is an error object
    actions: list[dict[str, Any]] = [
        {"remove": {"index": old, "alias": alias}} for old in current if old != index
    ]
    actions.append({"add": {"index": index, "alias": alias}})
    call(f"moving alias {alias} to {index}", url, lambda: client.indices.update_aliases(actions=actions))
    return current
