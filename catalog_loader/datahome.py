"""The data home: where the sample datasets live on this machine, and whether the files there can be trusted.

A file counts as present only when its SHA-256 matches the registry. Hashing 30 MB on every check would make
every ``prgym`` command slower, so a successful verification is remembered (size + modification time + sum) in
a small state file in prgym's cache directory (``$PRGYM_CACHE_DIR`` or the user cache dir), keyed by the data
folder's resolved path; a file whose size or mtime changed is hashed again. Nothing is ever written into a
folder the user pointed at as their data (only downloads go there): if the cache directory is not writable, the
verified state is kept in memory for the life of the process instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import threading
from enum import Enum
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError

from catalog_loader.datasets import DataFile, Dataset, get_dataset

DATA_DIR_ENV = "PRGYM_DATA_DIR"
CACHE_DIR_ENV = "PRGYM_CACHE_DIR"
STATE_FILE = ".prgym-verified.json"
"""Name of the state file that older versions wrote beside the data; never written any more."""
PART_SUFFIX = ".part"
_HASH_CHUNK = 1 << 20


def default_data_dir() -> Path:
    """The per-user cache location used when ``PRGYM_DATA_DIR`` is not set."""
    return platformdirs.user_cache_path("prgym", appauthor=False) / "data"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data home: an explicit ``data_dir``, else ``$PRGYM_DATA_DIR``, else the user cache directory.

    The directory is not created here: status checks must not leave empty folders behind.
    """
    if data_dir is not None and str(data_dir).strip():
        return Path(data_dir).expanduser().absolute()
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser().absolute()
    return default_data_dir()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks so memory stays flat whatever the file size."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dir_is_writable(path: Path) -> bool:
    """Whether we may write into ``path`` (or create it).

    Besides ``os.access``, a directory whose mode has no write bit at all counts as read-only even for root:
    root bypasses permission checks, and a copy someone marked read-only must not be changed behind its back.
    """
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        return False
    mode = probe.stat().st_mode
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


class _Verified(BaseModel):
    """What was true of a file when its checksum last matched."""

    model_config = ConfigDict(extra="forbid")

    size: int
    mtime_ns: int
    sha256: str


class _VerifiedState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    files: dict[str, _Verified] = {}


# Verified state of read-only data dirs, per resolved directory, for the life of the process.
_MEMORY_STATE: dict[str, _VerifiedState] = {}
_STATE_LOCK = threading.Lock()


def _state_key(data_dir: Path) -> str:
    return str(data_dir.resolve())


def state_path(data_dir: Path) -> Path:
    """Where the verified state of ``data_dir`` is kept: the cache directory, one file per data folder."""
    env = os.environ.get(CACHE_DIR_ENV, "").strip()
    cache = Path(env).expanduser() if env else platformdirs.user_cache_path("prgym", appauthor=False)
    digest = hashlib.sha256(_state_key(data_dir).encode("utf-8")).hexdigest()[:24]
    return cache / "verified" / f"{digest}.json"


def _load_state(data_dir: Path) -> _VerifiedState:
    key = _state_key(data_dir)
    if key in _MEMORY_STATE:
        return _MEMORY_STATE[key]
    state = _VerifiedState()
    path = state_path(data_dir)
    if path.is_file():
        # A damaged or foreign state file only costs a re-hash: it never makes a file count as verified.
        with contextlib.suppress(OSError, ValueError, ValidationError):
            state = _VerifiedState.model_validate(json.loads(path.read_text(encoding="utf-8")))
    _MEMORY_STATE[key] = state
    return state


def _save_state(data_dir: Path, state: _VerifiedState) -> None:
    """Persist the state atomically in the cache directory when it is writable; otherwise keep it in memory."""
    _MEMORY_STATE[_state_key(data_dir)] = state
    path = state_path(data_dir)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(state.model_dump_json(indent=1))
        os.replace(tmp, path)
    except OSError:
        # The state is only a speed-up: failing to persist it must not fail the command.
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def remember_verified(data_dir: Path, file: DataFile) -> None:
    """Record that ``file`` as it is now on disk matches its registry checksum."""
    st = (data_dir / file.path).stat()
    with _STATE_LOCK:
        state = _load_state(data_dir)
        state.files[file.path] = _Verified(size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=file.sha256)
        _save_state(data_dir, state)


def _forget(data_dir: Path, rel_path: str) -> None:
    with _STATE_LOCK:
        state = _load_state(data_dir)
        if state.files.pop(rel_path, None) is not None:
            _save_state(data_dir, state)


class FileState(str, Enum):
    """What we know about one file in the data home."""

    VERIFIED = "verified"
    MISSING = "missing"
    CORRUPT = "corrupt"


class FileStatus(BaseModel):
    """One file's state; ``actual_sha256`` is set when a present file did not match (or ``None`` if the
    mismatch was already clear from its size)."""

    model_config = ConfigDict(frozen=True)

    path: str
    state: FileState
    expected_size: int
    size: int | None = None
    expected_sha256: str
    actual_sha256: str | None = None
    partial_bytes: int = 0


class DatasetStatus(BaseModel):
    """A dataset's state in a data home: ``verified`` only if every file is there and matches."""

    model_config = ConfigDict(frozen=True)

    name: str
    data_dir: Path
    derived: bool
    files: tuple[FileStatus, ...]

    @property
    def state(self) -> FileState:
        states = {f.state for f in self.files}
        if FileState.CORRUPT in states:
            return FileState.CORRUPT
        if FileState.MISSING in states:
            return FileState.MISSING
        return FileState.VERIFIED

    @property
    def verified(self) -> bool:
        return self.state is FileState.VERIFIED

    @property
    def n_verified(self) -> int:
        return sum(f.state is FileState.VERIFIED for f in self.files)


def file_status(data_dir: Path, file: DataFile) -> FileStatus:
    """Check one file: the cached verification if size and mtime are unchanged, else a streaming hash."""
    target = data_dir / file.path
    part = target.with_name(target.name + PART_SUFFIX)
    partial = part.stat().st_size if part.is_file() else 0
    base = {
        "path": file.path,
        "expected_size": file.size,
        "expected_sha256": file.sha256,
        "partial_bytes": partial,
    }
    if not target.is_file():
        return FileStatus(state=FileState.MISSING, **base)
    st = target.stat()
    if st.st_size != file.size:
        _forget(data_dir, file.path)
        return FileStatus(state=FileState.CORRUPT, size=st.st_size, **base)
    with _STATE_LOCK:
        known = _load_state(data_dir).files.get(file.path)
    if known and (known.size, known.mtime_ns, known.sha256) == (st.st_size, st.st_mtime_ns, file.sha256):
        return FileStatus(state=FileState.VERIFIED, size=st.st_size, **base)
    actual = sha256_file(target)
    if actual != file.sha256:
        _forget(data_dir, file.path)
        return FileStatus(state=FileState.CORRUPT, size=st.st_size, actual_sha256=actual, **base)
    remember_verified(data_dir, file)
    return FileStatus(state=FileState.VERIFIED, size=st.st_size, **base)


def dataset_status(name: str | Dataset, data_dir: str | os.PathLike[str] | None = None) -> DatasetStatus:
    """Whether a dataset is verified, missing or corrupt in ``data_dir`` (default: the data home)."""
    dataset = name if isinstance(name, Dataset) else get_dataset(name)
    root = resolve_data_dir(data_dir)
    files = tuple(file_status(root, f) for f in dataset.files)
    return DatasetStatus(name=dataset.name, data_dir=root, derived=dataset.derived, files=files)


def layout_hint(datasets: list[Dataset] | tuple[Dataset, ...]) -> str:
    """The expected folder layout, for error messages that ask users to point at a local copy."""
    paths = [f"<dir>/{f.path}" for d in datasets for f in d.files]
    return ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
