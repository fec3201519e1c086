"""Fixtures for the distill and judge tests: the recorded critique episodes of tests/recorder/trace_helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recorder"))

from trace_helpers import recorded  # noqa: E402, F401
