"""Downloading the sample datasets into the data home: resumable, checksum-verified, honest about failure.

Each file streams into ``<file>.part``; an interrupted transfer keeps the part and the next attempt asks for
the rest with an HTTP ``Range`` request (a server that ignores ``Range`` gets a clean restart from 0). Nothing
reaches its final name before its SHA-256 matches the registry, and the final move is an atomic rename, so a
reader never sees a half-written or wrong file. Without network we fail on the first connection error, with a
message that says how to use a local copy instead, rather than retrying for minutes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from catalog_loader.datahome import (
    DATA_DIR_ENV,
    PART_SUFFIX,
    DatasetStatus,
    FileState,
    dataset_status,
    dir_is_writable,
    layout_hint,
    remember_verified,
    resolve_data_dir,
)
from catalog_loader.datasets import DataFile, Dataset, expand_names
from sandbox.errors import UserError
from sandbox.progress import ProgressBar

MIRROR_ENV = "PRGYM_DATA_MIRROR"
# Identity encoding: byte ranges must count file bytes, not bytes of a compressed representation.
_HEADERS = {"User-Agent": "prgym-data-fetch/1", "Accept-Encoding": "identity"}


class FetchError(UserError, RuntimeError):
    """Base class for every way a fetch can fail; the message is meant for the user as it is."""


class NetworkUnavailableError(FetchError):
    """The source host could not be reached at all (DNS failure, refused connection, connect timeout)."""


class ChecksumMismatchError(FetchError):
    """Downloaded bytes do not hash to the registry's SHA-256; the bytes were discarded."""

    def __init__(self, path: str, url: str, expected: str, actual: str, detail: str = "") -> None:
        self.path, self.url, self.expected, self.actual = path, url, expected, actual
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"checksum mismatch for {path} from {url}{extra}: expected sha256 {expected}, got {actual}; "
            "the download was discarded"
        )


class TransferInterruptedError(FetchError):
    """The connection dropped mid-file; the ``.part`` file is kept so the next fetch resumes."""

    def __init__(self, path: str, url: str, received: int, expected: int, cause: str) -> None:
        self.path, self.url, self.received, self.expected = path, url, received, expected
        super().__init__(
            f"download of {path} from {url} was interrupted at {received:,} of {expected:,} bytes ({cause}); "
            "run the fetch again to resume"
        )


class DerivedDatasetError(FetchError):
    """A derived dataset is missing or corrupt and there is no mirror that could hold a copy."""


class DataDirNotWritableError(FetchError):
    """Files are missing but the data home cannot be written to."""


class FetchSettings(BaseModel):
    """Network behaviour: short connect timeout so that no network fails fast, patient reads for big files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    resume_attempts: int = Field(default=3, ge=0, description="automatic resumes after a dropped connection")


class FileOutcome(BaseModel):
    """What happened to one file during a fetch."""

    model_config = ConfigDict(frozen=True)

    path: str
    action: Literal["present", "downloaded", "resumed"]
    url: str | None = None
    bytes_transferred: int = 0


class FetchReport(BaseModel):
    """The result of :func:`fetch_datasets`: where the data is, what was done, and what was left out."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path
    files: tuple[FileOutcome, ...]
    skipped_derived: tuple[str, ...] = ()

    @property
    def bytes_transferred(self) -> int:
        return sum(f.bytes_transferred for f in self.files)


def resolve_mirror(mirror: str | None = None) -> str | None:
    """The mirror base URL: the argument, else ``$PRGYM_DATA_MIRROR``, else ``None`` (public sources)."""
    value = (mirror or os.environ.get(MIRROR_ENV, "")).strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FetchError(f"mirror must be an http(s) base URL such as http://host:8000/data, got {value!r}")
    return value.rstrip("/")


def file_url(file: DataFile, mirror: str | None) -> str | None:
    """Where to download ``file`` from: ``<mirror>/<relative path>`` or its pinned public source."""
    if mirror:
        return f"{mirror}/{quote(file.path)}"
    return file.source.url if file.source else None


def _no_network_message(url: str, datasets: Iterable[Dataset], cause: object) -> str:
    host = urlsplit(url).netloc or url
    return (
        f"no network access to {host} ({cause}). Set {DATA_DIR_ENV} to a folder that already holds the data "
        f"(layout: {layout_hint(tuple(datasets))}) or use --mirror URL / {MIRROR_ENV} to download from a "
        "server you can reach"
    )


def _derived_message(dataset: Dataset, status: DatasetStatus) -> str:
    bad = [f.path for f in status.files if f.state is not FileState.VERIFIED]
    return (
        f"dataset {dataset.name!r} is derived: {dataset.derivation} (source: {dataset.derived_from}). "
        f"It cannot be downloaded; {', '.join(bad)}: missing or not matching its checksum in "
        f"{status.data_dir}. "
        f"Point {DATA_DIR_ENV} at a folder holding a verified copy (layout: {layout_hint([dataset])}), "
        f"or use --mirror URL / {MIRROR_ENV} with a server that serves that copy"
    )


class _Interrupted(Exception):
    """A transfer that stopped early: ``received`` is the part file's size now, ``start`` where it began."""

    def __init__(self, received: int, start: int, cause: str) -> None:
        super().__init__(cause)
        self.received, self.start = received, start


class _TooLong(Exception):
    """The server sent more bytes than the registry says the file has."""


class _RestartFromZero(Exception):
    """The server cannot continue our part file; drop it and download the whole file."""


def _hash_existing(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest


def _content_range_start(value: str | None) -> int | None:
    """The first byte position of a ``Content-Range: bytes a-b/n`` header, or ``None`` if unparsable."""
    if not value or not value.startswith("bytes "):
        return None
    first = value[6:].split("-", 1)[0].strip()
    return int(first) if first.isdigit() else None


def _transfer(
    client: httpx.Client,
    url: str,
    part: Path,
    file: DataFile,
    on_progress: Callable[[int], None],
) -> tuple[str, int, int]:
    """Bring ``part`` up to the full file from ``url``; returns (hex sha256, start offset, bytes received)."""
    offset = part.stat().st_size if part.is_file() else 0
    if offset > file.size:
        part.unlink()
        offset = 0
    if offset == file.size:
        on_progress(offset)
        return _hash_existing(part).hexdigest(), offset, 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as response:
        if offset and response.status_code == 416:
            raise _RestartFromZero
        if offset and response.status_code == 206:
            if _content_range_start(response.headers.get("content-range")) != offset:
                raise _RestartFromZero
            digest, mode = _hash_existing(part), "ab"
        elif response.status_code == 200:
            digest, mode, offset = hashlib.sha256(), "wb", 0  # no Range asked, or the server ignored it
        else:
            raise FetchError(f"cannot download {file.path}: {url} answered HTTP {response.status_code}")
        written = offset
        on_progress(written)
        with part.open(mode) as fh:
            try:
                # No chunk size: a re-chunking buffer would lose its tail when the connection drops.
                for chunk in response.iter_bytes():
                    if written + len(chunk) > file.size:
                        raise _TooLong
                    fh.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    on_progress(written)
            except (httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError) as exc:
                raise _Interrupted(written, offset, f"{type(exc).__name__}: {exc}") from exc
    if written < file.size:
        raise _Interrupted(written, offset, "connection closed early")
    return digest.hexdigest(), offset, written - offset


def download_file(
    client: httpx.Client,
    url: str,
    data_dir: Path,
    file: DataFile,
    settings: FetchSettings,
    on_progress: Callable[[int], None] = lambda _n: None,
) -> FileOutcome:
    """Download one file into ``data_dir`` via ``<file>.part``: resume, verify, then rename atomically.

    Connection failures propagate as :class:`httpx.ConnectError` / :class:`httpx.ConnectTimeout` for the
    caller to turn into one "no network" message for the whole fetch.
    """
    target = data_dir / file.path
    part = target.with_name(target.name + PART_SUFFIX)
    target.parent.mkdir(parents=True, exist_ok=True)
    resumes_left = settings.resume_attempts
    clean_retry_done = False
    resumed = False
    transferred = 0
    while True:
        try:
            actual, start, received = _transfer(client, url, part, file, on_progress)
        except _RestartFromZero:
            part.unlink(missing_ok=True)
            continue
        except _TooLong:
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                file.path,
                url,
                file.sha256,
                "(not computed)",
                f"server sent more than the expected {file.size:,} bytes",
            ) from None
        except _Interrupted as exc:
            transferred += exc.received - exc.start
            if resumes_left <= 0:
                raise TransferInterruptedError(file.path, url, exc.received, file.size, str(exc)) from None
            resumes_left -= 1
            continue
        resumed = resumed or start > 0
        transferred += received
        if actual == file.sha256:
            break
        part.unlink(missing_ok=True)
        if start > 0 and not clean_retry_done:
            # The kept part may be stale (an older or foreign partial download): one clean attempt settles it.
            clean_retry_done = True
            continue
        raise ChecksumMismatchError(file.path, url, file.sha256, actual)
    os.replace(part, target)
    remember_verified(data_dir, file)
    return FileOutcome(
        path=file.path, action="resumed" if resumed else "downloaded", url=url, bytes_transferred=transferred
    )


def _progress(console: Console | None, enabled: bool) -> Progress:
    return ProgressBar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def fetch_datasets(
    names: str | list[str] | tuple[str, ...],
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    *,
    settings: FetchSettings | None = None,
    skip_derived: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> FetchReport:
    """Make the named datasets present and verified in the data home, downloading only what is missing.

    Files that already verify are used as they are (no request is made). Derived datasets can only come from
    a local copy or a mirror: when missing without a mirror they raise :class:`DerivedDatasetError`, or are
    listed in ``skipped_derived`` when ``skip_derived`` is set (``fetch all``).
    """
    settings = settings or FetchSettings()
    datasets = expand_names(names if not isinstance(names, str) else [names])
    root = resolve_data_dir(data_dir)
    base = resolve_mirror(mirror)
    outcomes: list[FileOutcome] = []
    skipped: list[str] = []
    todo: list[tuple[DataFile, str]] = []
    for dataset in datasets:
        status = dataset_status(dataset, root)
        by_path = {f.path: f for f in status.files}
        missing = [f for f in dataset.files if by_path[f.path].state is not FileState.VERIFIED]
        outcomes.extend(FileOutcome(path=f.path, action="present") for f in dataset.files if f not in missing)
        if not missing:
            continue
        if dataset.derived and base is None:
            if skip_derived:
                skipped.append(dataset.name)
                continue
            raise DerivedDatasetError(_derived_message(dataset, status))
        for f in missing:
            url = file_url(f, base)
            if url is None:  # unreachable: the registry validates that non-derived files have a source
                raise FetchError(f"{f.path} has no source URL")
            todo.append((f, url))
    if todo:
        if not dir_is_writable(root):
            raise DataDirNotWritableError(
                f"{len(todo)} file(s) must be downloaded but the data home {root} is not writable; set "
                f"{DATA_DIR_ENV} (or --data-dir) to a writable folder"
            )
        root.mkdir(parents=True, exist_ok=True)
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, headers=_HEADERS) as client,
            _progress(console, progress) as bar,
        ):
            for f, url in todo:
                tasks: list[TaskID] = []

                def advance(done: int, _file: DataFile = f, _tasks: list[TaskID] = tasks) -> None:
                    # The bar appears once the server answered, so "no network" prints no empty bar.
                    if not _tasks:
                        _tasks.append(bar.add_task(_file.path, total=_file.size))
                    bar.update(_tasks[0], completed=done)

                try:
                    outcomes.append(download_file(client, url, root, f, settings, advance))
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    raise NetworkUnavailableError(_no_network_message(url, datasets, exc)) from exc
                except httpx.HTTPError as exc:
                    raise FetchError(
                        f"cannot download {f.path} from {url}: {type(exc).__name__}: {exc}"
                    ) from exc
    return FetchReport(data_dir=root, files=tuple(outcomes), skipped_derived=tuple(skipped))


def ensure_datasets(
    names: str | list[str] | tuple[str, ...],
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    *,
    progress: bool = True,
    console: Console | None = None,
) -> Path:
    """The data home, once ``names`` are present and verified there (downloading what is missing).

    This is the call for code that needs sample data (the demo, examples): it raises a :class:`FetchError`
    whose message tells the user what to do when the data cannot be had.
    """
    return fetch_datasets(names, data_dir, mirror, progress=progress, console=console).data_dir
