"""Fixtures for the recorder tests."""

from trace_helpers import recorded  # noqa: F401  (a session fixture shared with tests/distill)
