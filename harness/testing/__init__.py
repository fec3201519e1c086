"""Test fixtures that are real programs: a scripted OpenAI-compatible HTTP server
(:mod:`harness.testing.openai_server`) and a tiny tool-echo Gymnasium env (:mod:`harness.testing.echo_env`),
importable by the test suite and the benchmarks.

Names are imported lazily so ``python -m harness.testing.openai_server`` runs the module only once.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RecordedRequest": "harness.testing.openai_server",
    "Reply": "harness.testing.openai_server",
    "ScriptedOpenAIServer": "harness.testing.openai_server",
    "ScriptedToolCall": "harness.testing.openai_server",
    "tool_loop_responder": "harness.testing.openai_server",
    "EchoToolEnv": "harness.testing.echo_env",
    "ECHO_TOOLS": "harness.testing.echo_env",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harness.testing' has no attribute {name!r}")
