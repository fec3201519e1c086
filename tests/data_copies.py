"""Copies of the shared data for tests that must see how a command treats it: read-only like a shared mount.

A module of its own (not a fixture) so tests in any folder import it (``tests/`` is on ``sys.path`` through
``tests/conftest.py``). Root ignores file modes, so a read-only copy alone proves nothing when tests run as root:
:func:`listing` lets a test check that nothing under the copy changed either.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def read_only_copy(src: Path, dest: Path) -> Path:
    """A copy of the shared data with every directory and file read-only (what a shared mount looks like)."""
    shutil.copytree(src, dest, symlinks=False)
    for path in sorted(dest.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    dest.chmod(0o555)
    return dest


def make_writable(root: Path) -> None:
    """Undo :func:`read_only_copy`, so the temporary folder can be removed."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def listing(root: Path) -> list[tuple[str, int, int, int]]:
    """Every entry under ``root``: relative path, size, mtime (ns) and mode; equal before and after = untouched."""
    return sorted(
        (str(p.relative_to(root)), p.lstat().st_size, p.lstat().st_mtime_ns, p.lstat().st_mode)
        for p in [root, *root.rglob("*")]
    )
