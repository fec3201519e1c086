"""prgym as a verifiers taskset plugin: ``vf-eval prgym_verifiers`` / ``--env.taskset.id prgym_verifiers``.

The module exports one ``Taskset`` via ``__all__`` (verifiers' plugin rule); see :mod:`prgym_verifiers.taskset`.
"""

from prgym_verifiers.taskset import PrgymTaskset

__all__ = ["PrgymTaskset"]
