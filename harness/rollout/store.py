"""``results.jsonl``: one line per finished episode, durable as soon as it is written, safe to resume.

- Each line is written with one ``write`` on an ``O_APPEND`` descriptor and then ``fsync``-ed, so after a crash
  (even SIGKILL) the file holds every episode reported finished, plus at most one torn last line.
- Opening repairs the tail: a last line without its newline, or unreadable trailing lines, are cut off (they
  are episodes that never finished writing and will be rerun). An unreadable line *followed by* good lines is
  not a crash artefact, so it is an error naming the line.
- A lock file (``flock``) stops two runners from writing one results file; the OS releases it when the holder
  dies, so a killed runner never blocks the rerun.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from harness.rollout.records import EpisodeRecord
from sandbox.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

RESULTS_NAME = "results.jsonl"
LOCK_NAME = ".results.lock"


class ResultsFileError(UserError, ValueError):
    """The results file is corrupt in a way a crash cannot explain, or is locked by another runner."""


class RepairReport:
    """What opening the file found: records kept, bytes of torn tail cut, duplicate keys ignored."""

    def __init__(self) -> None:
        self.truncated_bytes = 0
        self.dropped_lines = 0
        self.duplicates: list[str] = []


class ResultStore:
    """Append-only episode records under ``out_dir``. Use as a context manager or call :meth:`open` and
    :meth:`close`."""

    def __init__(self, out_dir: Path | str) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / RESULTS_NAME
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self.records: dict[str, EpisodeRecord] = {}
        self.repair = RepairReport()
        self._reserved: set[str] = set()
        self._writer: _GroupWriter | None = None

    def __enter__(self) -> ResultStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> dict[str, EpisodeRecord]:
        """Lock, repair the tail, load every record (first one wins per key) and open for appending."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        self.records = self._load_and_repair()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self.records

    def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def append(self, record: EpisodeRecord) -> None:
        """Write one record durably (blocking). A key already present is refused: an episode is never written
        twice."""
        line = self._reserve(record)
        try:
            self._write_durably(line)
        finally:
            self._reserved.discard(record.episode_key)
        self.records[record.episode_key] = record

    async def append_async(self, record: EpisodeRecord) -> None:
        """Write one record durably without blocking the event loop: lines finishing together share one
        ``fsync`` (group commit) in a writer thread; returns once this record is on disk."""
        line = self._reserve(record)
        try:
            if self._writer is None:
                self._writer = _GroupWriter(self._write_durably)
            await self._writer.submit(line)
        finally:
            self._reserved.discard(record.episode_key)
        self.records[record.episode_key] = record

    def _reserve(self, record: EpisodeRecord) -> bytes:
        if self._fd is None:
            raise RuntimeError("result store is not open")
        key = record.episode_key
        if key in self.records or key in self._reserved:
            raise ResultsFileError(f"episode {key!r} is already in {self.path}")
        line = (record.model_dump_json() + "\n").encode()
        self._reserved.add(key)
        return line

    def _write_durably(self, data: bytes) -> None:
        """One ``write`` on the O_APPEND descriptor (whole lines only), then ``fsync``."""
        assert self._fd is not None
        view = memoryview(data)
        while view:  # a short write on a regular file only happens when the disk is full; finish or raise
            written = os.write(self._fd, view)
            if written <= 0:
                raise OSError(f"could not write to {self.path}")
            view = view[written:]
        os.fsync(self._fd)

    def drop(self, keys: set[str]) -> int:
        """Remove the records of ``keys`` (to rerun failed episodes) by rewriting the file atomically."""
        if self._fd is None:
            raise RuntimeError("result store is not open")
        kept = [r for k, r in self.records.items() if k not in keys]
        removed = len(self.records) - len(kept)
        if not removed:
            return 0
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "wb") as handle:
            for record in kept:
                handle.write((record.model_dump_json() + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.close(self._fd)
        os.replace(tmp, self.path)
        _fsync_dir(self.out_dir)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.records = {r.episode_key: r for r in kept}
        return removed

    # ---- internals -------------------------------------------------------------------------------------------
    def _lock(self) -> None:
        if fcntl is None:
            return
        fd = os.open(self.out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ResultsFileError(
                f"{self.out_dir} is in use by another runner (lock {LOCK_NAME} is held); wait for it to finish"
            ) from None
        self._lock_fd = fd

    def _load_and_repair(self) -> dict[str, EpisodeRecord]:
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        # Parse complete lines; remember where the last good one ends.
        lines = data.split(b"\n")
        torn_tail = lines.pop()  # text after the last newline ("" when the file ends cleanly)
        records: dict[str, EpisodeRecord] = {}
        good_end = 0
        offset = 0
        bad: list[
            tuple[int, str]
        ] = []  # (line number, problem) of unreadable lines not yet followed by good ones
        for number, raw in enumerate(lines, start=1):
            end = offset + len(raw) + 1
            offset = end
            if not raw.strip():
                continue
            try:
                record = EpisodeRecord.model_validate(json.loads(raw))
            except (ValueError, ValidationError) as exc:
                bad.append((number, _first_line(exc)))
                continue
            if bad:
                first, problem = bad[0]
                raise ResultsFileError(
                    f"{self.path}:{first}: not a valid episode record ({problem}), and valid records follow it, "
                    "so it is not a torn last line; fix or remove that line"
                )
            good_end = end
            if record.episode_key in records:
                self.repair.duplicates.append(record.episode_key)
                continue
            records[record.episode_key] = record
        if torn_tail or bad or good_end < len(data):
            self.repair.truncated_bytes = len(data) - good_end
            self.repair.dropped_lines = len(bad) + (1 if torn_tail else 0)
            log.warning(
                "%s: cutting %d byte(s) of unfinished tail (%d line(s)) left by an interrupted run",
                self.path,
                self.repair.truncated_bytes,
                self.repair.dropped_lines,
            )
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
                handle.flush()
                os.fsync(handle.fileno())
        if self.repair.duplicates:
            log.warning("%s: %d duplicate episode key(s) ignored", self.path, len(self.repair.duplicates))
        return records


class _GroupWriter:
    """A writer thread: takes every line queued since its last write, writes them in one call and fsyncs once,
    then wakes each waiting coroutine (with the error, if the write failed). fsync takes milliseconds; doing it
    on the event loop would stall every running episode, and once per line would waste the disk."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._queue: queue.SimpleQueue[tuple[bytes, asyncio.Future[None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="results-writer", daemon=True)
        self._thread.start()

    async def submit(self, line: bytes) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((line, future))
        await asyncio.shield(future)  # a cancelled episode task must not leave a half-known write behind

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            error: BaseException | None = None
            try:
                self._write(b"".join(line for line, _ in batch))
            except BaseException as exc:  # handed to the waiting coroutines
                error = exc
            for _, future in batch:
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
                    future.get_loop().call_soon_threadsafe(_settle, future, error)
            if stop:
                return


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_records(out_dir: Path | str) -> list[EpisodeRecord]:
    """Every readable record in ``out_dir/results.jsonl`` (read-only: no lock, no repair; a torn last line is
    skipped)."""
    path = Path(out_dir) / RESULTS_NAME
    if not path.exists():
        return []
    out = []
    for raw in path.read_bytes().split(b"\n"):
        if not raw.strip():
            continue
        try:
            out.append(EpisodeRecord.model_validate(json.loads(raw)))
        except (ValueError, ValidationError):
            continue
    return out
