"""Plain progress lines when the console is not a terminal; nothing extra on a terminal or when disabled."""

from __future__ import annotations

import io

from rich.console import Console

from sandbox.progress import ProgressBar, format_duration, progress_line


def _run(console: Console, **kwargs) -> str:
    with ProgressBar(console=console, interval_s=0.0, **kwargs) as bar:
        task = bar.add_task("embedding", total=4, completed=1)
        for _ in range(3):
            bar.advance(task)
    return console.file.getvalue()


def test_a_log_file_gets_done_total_rate_and_eta() -> None:
    text = _run(Console(file=io.StringIO(), force_terminal=False, width=200))
    lines = [line for line in text.splitlines() if line.startswith("embedding:")]
    assert lines[0].startswith("embedding: 2/4 (50.0%)") and "/s" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith("embedding: 4/4 (100.0%)") and lines[-1].endswith("done")
    assert len(lines) == 3  # one per update at interval 0, the finished line once


def test_no_plain_lines_on_a_terminal_or_when_disabled() -> None:
    terminal = _run(Console(file=io.StringIO(), force_terminal=True, width=200))
    assert "embedding: " not in terminal
    disabled = _run(Console(file=io.StringIO(), force_terminal=False), disable=True)
    assert disabled == ""


def test_line_formatting() -> None:
    assert format_duration(3725) == "1h02m" and format_duration(185) == "3m05s" and format_duration(4) == "4s"
    assert progress_line("run", 10, None, 2.0) == "run: 10  2.0/s"
    assert progress_line("run", 5, 10, 1.0, "failed 0") == "run: 5/10 (50.0%)  1.0/s  ETA 5s  failed 0"
