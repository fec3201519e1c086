"""The supervisor's report check and the terminal reward share one ``report_metrics`` computation per report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.catalog import SearchRequest
from sandbox.catalog.lexical import TantivyBackend
from sandbox.rewards.metrics import report_metrics
from sandbox.tasks.models import HardConstraints


class CountingBackend:
    """A real backend that counts record look-ups (every report_metrics computation does exactly one)."""

    def __init__(self, inner: TantivyBackend, snapshot_id: Any) -> None:
        self.inner = inner
        self.snapshot_id = snapshot_id
        self.lookups = 0

    def get_products(self, ids: list[str]) -> list[Any]:
        self.lookups += 1
        return self.inner.get_products(ids)


def test_same_report_is_measured_once(small_snapshot: Path) -> None:
    inner = TantivyBackend(small_snapshot)
    ids = [h.product_id for h in inner.search(SearchRequest(query="laptop", page_size=3)).hits]
    report = " ".join(f"Option [P:{pid}] is a fine pick." for pid in ids)
    backend = CountingBackend(inner, inner.snapshot_id)
    first = report_metrics(report, backend, HardConstraints())  # type: ignore[arg-type]
    second = report_metrics(report, backend, HardConstraints())  # type: ignore[arg-type]
    assert backend.lookups == 1 and second is first and first[0].cited_ids == ids
    report_metrics(report + " More.", backend, HardConstraints())  # type: ignore[arg-type]
    report_metrics(report, backend, HardConstraints(brands=["Nope"]))  # type: ignore[arg-type]
    assert backend.lookups == 3  # another report or other constraints: measured afresh


def test_backend_without_a_snapshot_id_is_never_cached(small_snapshot: Path) -> None:
    inner = TantivyBackend(small_snapshot)
    backend = CountingBackend(inner, None)
    for _ in range(2):
        report_metrics("No citations here.", backend, HardConstraints())  # type: ignore[arg-type]
    assert backend.lookups == 2
