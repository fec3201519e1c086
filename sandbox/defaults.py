"""Defaults shared by the env and every front end that runs it (one definition, so they cannot drift).

``prgym run``, ``prgym rollout``, ``prgym eval``, ``prgym demo``, ``prgym serve`` and ``ProductResearchEnv``
all bound an episode with :data:`DEFAULT_MAX_STEPS` unless told otherwise; a test checks each of them.
"""

from __future__ import annotations

#: Agent actions per episode before the env truncates it (with the terminal reward on that last step).
DEFAULT_MAX_STEPS = 40
