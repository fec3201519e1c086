"""What happened to every row: loaded, rejected (with file, line, field and reason) or a duplicate.

The counts always reconcile (``read == loaded + rejected + duplicates``) so a user can trust that no row went
missing silently; the first rejects are kept for display and every reject can be streamed to a callback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

MAX_KEPT_REJECTS = 20
_VALUE_CHARS = 80


def short_repr(value: Any, limit: int = _VALUE_CHARS) -> str:
    """``repr`` cut to ``limit`` characters, so a reject never carries a whole HTML description."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Reject(BaseModel):
    """One row that did not load, and why."""

    source: str
    file: str
    line: int = Field(description="1-based line of the row (CSV, JSON, JSONL) or row number (parquet)")
    field: str | None = Field(
        default=None, description="the source column/key at fault; None for the whole row"
    )
    reason: str
    value: str | None = Field(default=None, description="the offending value, truncated repr")

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        what = f" [{self.field}]" if self.field else ""
        shown = f" (value {self.value})" if self.value is not None else ""
        return f"{where}{what}: {self.reason}{shown}"


class FileCounts(BaseModel):
    """How the rows of one file (or zip member) ended up; ``read == loaded + rejected + duplicates``."""

    file: str
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicates: int = 0

    @property
    def reconciles(self) -> bool:
        return self.read == self.loaded + self.rejected + self.duplicates


class SourceReport(BaseModel):
    """Counts for one source and for each of its files; ``read == loaded + rejected + duplicates`` always holds,
    for the source and for every file."""

    source: str
    files: list[str] = Field(default_factory=list)
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicates: int = 0
    per_file: list[FileCounts] = Field(default_factory=list)
    first_rejects: list[Reject] = Field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        """The source's counts add up, each file's do, and the files sum to the source."""
        if self.read != self.loaded + self.rejected + self.duplicates:
            return False
        if not all(f.reconciles for f in self.per_file):
            return False
        return sum(f.read for f in self.per_file) == self.read

    def add_reject(self, reject: Reject, on_reject: Callable[[Reject], None] | None = None) -> None:
        """Count a rejected row, keep it if it is among the first few, and pass it on."""
        self.rejected += 1
        if len(self.first_rejects) < MAX_KEPT_REJECTS:
            self.first_rejects.append(reject)
        if on_reject is not None:
            on_reject(reject)


def reports_table(reports: Sequence[SourceReport]) -> Any:
    """A rich table of per-source counts (for CLIs and benchmark output)."""
    from rich.table import Table

    table = Table(title="catalog sources")
    for column in ("source", "read", "loaded", "rejected", "duplicates"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for r in reports:
        table.add_row(r.source, f"{r.read:,}", f"{r.loaded:,}", f"{r.rejected:,}", f"{r.duplicates:,}")
    if len(reports) > 1:
        table.add_row(
            "total",
            f"{sum(r.read for r in reports):,}",
            f"{sum(r.loaded for r in reports):,}",
            f"{sum(r.rejected for r in reports):,}",
            f"{sum(r.duplicates for r in reports):,}",
            style="bold",
        )
    return table
