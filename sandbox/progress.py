"""One progress bar for every long command: rich's live bar on a terminal, plain lines in a log file.

Rich draws nothing while its console is not a terminal (output piped to a file, a CI log, ``nohup``), so a
long job such as ``catalog build --dense`` looked dead for many minutes. :class:`ProgressBar` is a drop-in
:class:`rich.progress.Progress` that, when its console is not a terminal, also prints a plain line per task
every ``interval_s`` seconds (and when a task finishes)::

    embedding: 12,000/48,000 (25.0%)  410.3/s  ETA 1m28s

The rate counts only work done since the task was added (a resumed run's finished episodes do not inflate
it). ``PRGYM_PROGRESS_INTERVAL`` (seconds) overrides the default interval. ``disable=True`` (``--no-progress``)
silences both forms.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

DEFAULT_INTERVAL_S = 10.0


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("PRGYM_PROGRESS_INTERVAL", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def format_duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def progress_line(
    description: str, done: float, total: float | None, rate: float | None, extra: str = ""
) -> str:
    """The plain line: done / total, percentage, rate, ETA (the parts that are known)."""
    parts = [f"{description}: {done:,.0f}" + (f"/{total:,.0f} ({100 * done / total:.1f}%)" if total else "")]
    if rate:
        parts.append(f"{rate:,.1f}/s")
        if total and total > done:
            parts.append(f"ETA {format_duration((total - done) / rate)}")
    if total and done >= total:
        parts.append("done")
    if extra:
        parts.append(extra)
    return "  ".join(parts)


class ProgressBar(Progress):
    """:class:`rich.progress.Progress` plus periodic plain lines when the console is not a terminal."""

    def __init__(self, *columns: Any, interval_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*columns, **kwargs)
        self.interval_s = _interval() if interval_s is None else interval_s
        self._plain = not self.disable and not self.console.is_terminal
        self._start: dict[TaskID, tuple[float, float]] = {}
        self._last: dict[TaskID, float] = {}
        self._finished: set[TaskID] = set()

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> TaskID:
        task_id = super().add_task(description, *args, **kwargs)
        now = time.monotonic()
        self._start[task_id] = (now, float(kwargs.get("completed", 0) or 0))
        self._last[task_id] = now
        return task_id

    def update(self, task_id: TaskID, *args: Any, **kwargs: Any) -> None:
        super().update(task_id, *args, **kwargs)
        self._maybe_print(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_print(task_id)

    def stop(self) -> None:
        if self._plain:
            for task_id, (_, initial) in list(self._start.items()):
                if task_id not in self._finished and self._tasks[task_id].completed > initial:
                    self._print(task_id)
        super().stop()

    def _maybe_print(self, task_id: TaskID) -> None:
        if not self._plain or task_id in self._finished or task_id not in self._start:
            return
        task = self._tasks[task_id]
        finished = task.total is not None and task.completed >= task.total
        if finished or time.monotonic() - self._last[task_id] >= self.interval_s:
            self._print(task_id)
            if finished:
                self._finished.add(task_id)

    def _print(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        started, initial = self._start[task_id]
        now = time.monotonic()
        self._last[task_id] = now
        elapsed = now - started
        rate = (task.completed - initial) / elapsed if elapsed > 0 and task.completed > initial else None
        stats = task.fields.get("stats")
        line = progress_line(
            str(task.description), task.completed, task.total, rate, str(stats) if stats else ""
        )
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def counting_bar(enabled: bool, *, console: Console | None = None) -> ProgressBar:
    """The bar of the long counting jobs (catalog build, dense encoding): description, bar, done/total, the
    task's ``rate`` field and the elapsed time; kept on screen when done."""
    return ProgressBar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
