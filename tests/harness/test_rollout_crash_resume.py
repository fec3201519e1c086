"""Crash and resume: SIGKILL the runner mid-run, leave a torn line, rerun the same command; every task x trial
ends up in the results exactly once and finished episodes are not run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("crash_runner.py")
TASKS, TRIALS = 30, 2


def command(out: Path, log: Path) -> list[str]:
    return [
        sys.executable,
        str(SCRIPT),
        str(out),
        "--tasks",
        str(TASKS),
        "--trials",
        str(TRIALS),
        "--log",
        str(log),
    ]


def recorded_keys(out: Path) -> list[str]:
    path = out / "results.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["episode_key"] for line in path.read_bytes().split(b"\n") if line.endswith(b"}")]


def wait_for_lines(out: Path, n: int, proc: subprocess.Popen, limit_s: float = 120) -> None:
    """Poll until the results file has ``n`` records (the limit only guards against a hung test)."""
    deadline = time.monotonic() + limit_s
    while len(recorded_keys(out)) < n:
        assert proc.poll() is None, "runner exited before it could be killed"
        assert time.monotonic() < deadline, "runner made no progress"
        time.sleep(0.01)


@pytest.mark.slow
def test_sigkill_then_rerun_records_every_job_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(command(out, tmp_path / "first.log"), env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for_lines(out, 10, first)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    survived = recorded_keys(out)
    assert 10 <= len(survived) < TASKS * TRIALS, "the kill must land mid-run"

    # A crash while writing leaves half a line behind; simulate one on top of the SIGKILL.
    with open(out / "results.jsonl", "ab") as handle:
        handle.write(b'{"episode_key": "task-029::slow::1", "task_id": "task-0')

    second = subprocess.run(command(out, tmp_path / "second.log"), env=env, capture_output=True, timeout=300)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    expected = {f"task-{i:03d}::slow::{t}" for i in range(TASKS) for t in range(TRIALS)}
    final = recorded_keys(out)
    assert Counter(final) == Counter(expected)  # every job exactly once, none duplicated
    assert (out / "results.jsonl").read_bytes().endswith(b"}\n")
    rerun = (tmp_path / "second.log").read_text().split()
    assert set(rerun) == expected - set(survived)  # finished episodes were skipped, the rest ran once
    assert len(rerun) == len(set(rerun))
    assert f"skipped={len(survived)}" in second.stdout.decode() and "missing=0" in second.stdout.decode()
