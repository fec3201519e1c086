"""Shared by the loader tests: run a spec to completion and keep everything that came out."""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog_loader import Reject, SourceReport, SourceSpec, iter_source
from sandbox.catalog.product import Product


@dataclass
class Loaded:
    report: SourceReport
    products: list[Product]
    rejects: list[Reject] = field(default_factory=list)

    def by_id(self) -> dict[str, Product]:
        return {p.product_id: p for p in self.products}

    def reject_at(self, line: int) -> Reject:
        found = [r for r in self.rejects if r.line == line]
        assert len(found) == 1, f"expected one reject at line {line}, got {found}"
        return found[0]


def run_spec(spec: SourceSpec | dict) -> Loaded:
    """Load one spec fully, collecting every reject through the callback."""
    if isinstance(spec, dict):
        spec = SourceSpec.model_validate(spec)
    report = SourceReport(source=spec.name)
    rejects: list[Reject] = []
    products = list(iter_source(spec, report, on_reject=rejects.append))
    assert report.reconciles, report
    assert report.rejected == len(rejects)
    assert report.loaded == len(products)
    return Loaded(report, products, rejects)
