"""``prgym view``: a self-contained HTML run report and trajectory viewer (see :func:`build_report`)."""

from harness.view.build import ReportStats, build_report

__all__ = ["ReportStats", "build_report"]
