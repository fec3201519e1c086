"""Episode metrics (DESIGN section 7): Effective Product Count, grounding, constraints, format, pass^k.

Each metric is a small pure function over catalog records, so the supervisor, the terminal reward and offline
evaluation compute the same numbers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from math import comb

from pydantic import BaseModel

from sandbox.catalog.backend import CatalogBackend, products_by_id
from sandbox.catalog.product import Product
from sandbox.citations import cited_product_ids
from sandbox.rewards.grounding import ClaimCheck, check_report, grounding_accuracy
from sandbox.tasks.models import HardConstraints


def effective_product_count(cited_ids: Sequence[str], products: Mapping[str, Product]) -> int:
    """Distinct cited ids that exist in the catalog snapshot (ProductResearch's EPC)."""
    return len({pid for pid in cited_ids if pid in products})


def constraint_satisfying(
    cited_ids: Sequence[str], products: Mapping[str, Product], constraints: HardConstraints
) -> list[str]:
    """Distinct cited ids that exist and meet every hard constraint, in first-cited order."""
    return [
        pid for pid in dict.fromkeys(cited_ids) if pid in products and constraints.satisfied_by(products[pid])
    ]


def format_validity(valid_actions: int, actions: int) -> float:
    """Share of the agent's actions that were well-formed (parsable, known tool, valid arguments)."""
    return valid_actions / actions if actions else 0.0


def pass_hat_k(successes: int, trials: int, k: int) -> float:
    """pass^k for one task: the chance that ``k`` trials drawn without replacement all succeed."""
    if not 0 < k <= trials:
        raise ValueError(f"k must be in 1..trials ({trials}), got {k}")
    return comb(successes, k) / comb(trials, k)


class ReportMetrics(BaseModel):
    """What a research report achieves, measured against the catalog and the task's hard constraints."""

    cited_ids: list[str]
    unknown_ids: list[str]
    effective_product_count: int
    constraint_satisfying_count: int
    constraint_satisfaction: float
    grounding_accuracy: float | None
    claims_checked: int
    claims_disagreeing: int


_MetricsResult = tuple["ReportMetrics", dict[str, Product], list[ClaimCheck]]
# The supervisor checks a report and the terminal reward scores the same report right after: one computation
# serves both. Keyed by snapshot id (same snapshot, same records), report text and constraints; treat the
# returned objects as read-only.
_RECENT: OrderedDict[tuple[str, str, str], _MetricsResult] = OrderedDict()
_RECENT_LOCK = threading.Lock()
_RECENT_SIZE = 64


def report_metrics(report: str, backend: CatalogBackend, constraints: HardConstraints) -> _MetricsResult:
    """Metrics of ``report``, plus the cited records and claim checks (for critiques that quote them).

    Computed once per (snapshot, report, constraints): a repeat call returns the same objects.
    """
    snapshot_id = getattr(backend, "snapshot_id", None)
    if not isinstance(snapshot_id, str):
        return _report_metrics(report, backend, constraints)
    key = (snapshot_id, report, constraints.model_dump_json())
    with _RECENT_LOCK:
        if key in _RECENT:
            _RECENT.move_to_end(key)
            return _RECENT[key]
    result = _report_metrics(report, backend, constraints)
    with _RECENT_LOCK:
        _RECENT[key] = result
        while len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return result


def _report_metrics(report: str, backend: CatalogBackend, constraints: HardConstraints) -> _MetricsResult:
    cited = cited_product_ids(report)
    products = products_by_id(backend, cited)
    checks = check_report(report, products)
    satisfying = constraint_satisfying(cited, products, constraints)
    existing = effective_product_count(cited, products)
    checkable = [c for c in checks if c.verdict != "unverifiable"]
    metrics = ReportMetrics(
        cited_ids=cited,
        unknown_ids=[pid for pid in cited if pid not in products],
        effective_product_count=existing,
        constraint_satisfying_count=len(satisfying),
        constraint_satisfaction=len(satisfying) / existing if existing else 0.0,
        grounding_accuracy=grounding_accuracy(checks),
        claims_checked=len(checkable),
        claims_disagreeing=sum(c.verdict == "disagrees" for c in checkable),
    )
    return metrics, products, checks
