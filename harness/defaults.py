"""Defaults of the harness's commands and runners, defined once (``prgym run/rollout/eval/demo/serve``, distill,
judge, the task writer): the same flag means the same default everywhere, and a test checks it.
"""

from __future__ import annotations

from sandbox.defaults import DEFAULT_MAX_STEPS

#: How many things run at once: episodes (run, rollout, eval, demo), LLM calls (distill rewrites, judge, the LLM
#: task writer). Small enough for a laptop and a rate-limited API; raise it with ``--concurrency``.
DEFAULT_CONCURRENCY = 4

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_MAX_STEPS"]
