"""Why a catalog snapshot cannot be opened. All are user errors: the message names the folder and what to do."""

from __future__ import annotations

from sandbox.errors import UserError

REBUILD_HINT = "rebuild it with `prgym catalog build --out DIR`"


class SnapshotError(UserError):
    """A snapshot folder that cannot be used as it is (missing, foreign, damaged or written by another format)."""


class NotASnapshotError(SnapshotError, FileNotFoundError):
    """The folder (or a file a snapshot must have) does not exist."""


class IncompatibleSnapshotError(SnapshotError, RuntimeError):
    """The snapshot on disk was written by a prgym whose format this one cannot read, or is damaged."""


class DamagedSnapshotError(IncompatibleSnapshotError):
    """A file of the snapshot is missing, truncated or changed since the build, or a stored record is damaged."""
