"""Fixtures for the distill and judge tests: the recorded critique episodes of tests/recorder/trace_helpers.py,
and the scripted baseline's supervised runs of ``scripted_runs.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recorder"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripted_runs import scripted_runs  # noqa: E402, F401
from trace_helpers import recorded  # noqa: E402, F401
