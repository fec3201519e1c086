"""Streaming readers: files in, one raw record at a time out, each tagged with its file and line.

Nothing here holds more than one record (plus a bounded read buffer) in memory, so a 2.5M-product file loads in
the same memory as a 100-product one. A row the reader itself cannot make sense of (broken CSV quoting, a line
that is not JSON) comes out as a :class:`RawRecord` with ``error`` set instead of raising: the loader reports it
with its line number and carries on with the next row. Compressed inputs (``.gz``, ``.zip``) are opened
transparently; a zip's members are read one after the other as separate files named ``archive.zip!member``.
"""

from __future__ import annotations

import csv
import fnmatch
import glob
import gzip
import io
import json
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sandbox.errors import UserError

_CHUNK_CHARS = 1 << 20
_CSV_FIELD_LIMIT = (
    1 << 27
)  # 128 MiB: real exports carry huge HTML descriptions; the default 128 KiB is too small


@dataclass(slots=True)
class RawRecord:
    """One record as read: where it came from and its fields, or why it could not be read."""

    file: str
    line: int
    data: dict[str, Any] | None
    error: str | None = None


class ReaderError(UserError, ValueError):
    """A problem with a whole file (missing, unreadable, wrong format) rather than with one row."""


# ------------------------------------------------------------------------------------------------ locating


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Resolve globs (sorted, so the order is stable) and check that every named file exists."""
    found: list[Path] = []
    for raw in paths:
        text = str(raw)
        if glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise ReaderError(f"no file matches {text!r}")
            found.extend(matches)
        else:
            path = Path(text)
            if not path.is_file():
                raise ReaderError(f"file not found: {path}")
            found.append(path)
    return found


def logical_suffix(name: str) -> str:
    """The data format suffix under any compression: ``items.json.gz`` -> ``.json``."""
    lower = name.lower()
    for comp in (".gz", ".zip"):
        if lower.endswith(comp):
            lower = lower[: -len(comp)]
    return Path(lower).suffix


def _is_junk_member(name: str) -> bool:
    """macOS resource forks and hidden files that zip tools add next to the real data."""
    return name.startswith("__MACOSX/") or Path(name).name.startswith(".")


def iter_binary_files(path: Path, members: str = "*") -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(display name, binary stream)`` for each logical file in ``path``, closing each when done.

    ``.gz`` is decompressed on the fly; a ``.zip`` yields every member whose name matches the ``members`` glob
    (directories, ``__MACOSX/`` and hidden files skipped), each streamed, never extracted to disk.
    """
    name = path.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            infos = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and not _is_junk_member(info.filename)
                and fnmatch.fnmatch(info.filename, members)
            ]
            if not infos:
                raise ReaderError(f"{path}: no member matches {members!r}")
            for info in infos:
                with archive.open(info) as stream:
                    yield f"{path}!{info.filename}", stream
    elif name.endswith(".gz"):
        with gzip.open(path, "rb") as stream:
            yield str(path), stream
    else:
        with open(path, "rb") as stream:
            yield str(path), stream


def text_stream(binary: IO[bytes], encoding: str, errors: str) -> io.TextIOWrapper:
    """Decoded text with line ends kept as they are (``newline=""``), as the csv module requires."""
    return io.TextIOWrapper(binary, encoding=encoding, errors=errors, newline="")


# ------------------------------------------------------------------------------------------------------ CSV


class _Lines:
    """The physical lines fed to ``csv.reader``: counts them and can replay lines after a broken record.

    ``csv.reader`` pulls one line at a time and keeps no look-ahead, so pushing lines back in front of the file
    is enough to re-parse everything after a stray quote instead of losing the rest of the file.
    """

    __slots__ = ("_source", "_pending", "taken", "lineno")

    def __init__(self, source: Iterator[str]) -> None:
        self._source = source
        self._pending: deque[str] = deque()
        self.taken: list[str] = []
        self.lineno = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._pending.popleft() if self._pending else next(self._source)
        self.lineno += 1
        self.taken.append(line)
        return line

    def replay_after_first(self) -> None:
        """Give back every line of the current record except its first, to be parsed again."""
        rest = self.taken[1:]
        self._pending.extendleft(reversed(rest))
        self.lineno -= len(rest)


def iter_csv(
    stream: io.TextIOWrapper,
    file: str,
    *,
    delimiter: str = ",",
    quotechar: str = '"',
    header: bool = True,
    columns: Sequence[str] | None = None,
    on_header: Callable[[list[str]], None] | None = None,
) -> Iterator[RawRecord]:
    """Rows of a CSV/TSV file as dicts keyed by the header, each with the physical line it starts on.

    Multi-line quoted fields, a UTF-8 BOM and CRLF line ends are handled. A row that breaks the quoting rules
    or has the wrong number of fields is yielded as an error record; when a broken quote swallowed several
    lines, the lines after the first are parsed again so that the valid rows behind it still load.

    ``columns`` names the fields (the file's own header row, if ``header`` is set, is then skipped);
    ``on_header`` sees the column names before the first row, to check a mapping against them.
    """
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    lines = _Lines(iter(stream))
    reader = csv.reader(lines, delimiter=delimiter, quotechar=quotechar, strict=True)
    names: list[str] | None = list(columns) if columns else None
    width = len(names) if names else 0
    skip_header = header and names is not None
    if names is not None and on_header is not None:
        on_header(names)
    while True:
        start = lines.lineno + 1
        lines.taken.clear()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if names is None:
                raise ReaderError(f"{file}:{start}: the header row is not valid CSV ({exc})") from None
            spanned = len(lines.taken)
            yield RawRecord(file, start, None, f"malformed CSV row ({exc})")
            if spanned > 1:
                lines.replay_after_first()
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if skip_header:
            skip_header = False
            continue
        if names is None:
            if not header:
                raise ReaderError(f"{file}: no column names: set header=true or give columns")
            names = [name.strip().lstrip("\ufeff") or f"column_{i + 1}" for i, name in enumerate(row)]
            width = len(names)
            if on_header is not None:
                on_header(names)
            continue
        if len(row) != width:
            if len(row) > width and not any(cell.strip() for cell in row[width:]):
                row = row[:width]
            else:
                yield RawRecord(file, start, None, f"expected {width} fields, found {len(row)}")
                if len(lines.taken) > 1:
                    lines.replay_after_first()
                continue
        yield RawRecord(file, start, dict(zip(names, row, strict=False)))


def csv_header(stream: io.TextIOWrapper, delimiter: str, quotechar: str) -> list[str]:
    """The column names of a CSV stream (reads only the first record)."""
    reader = csv.reader(stream, delimiter=delimiter, quotechar=quotechar)
    for row in reader:
        if row:
            return [name.strip() for name in row]
    return []


# ----------------------------------------------------------------------------------------------------- JSON


def iter_jsonl(stream: io.TextIOWrapper, file: str) -> Iterator[RawRecord]:
    """One JSON object per line; blank lines are skipped, a bad line becomes an error record."""
    loads = json.loads
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            data = loads(line)
        except json.JSONDecodeError as exc:
            yield RawRecord(file, lineno, None, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if isinstance(data, dict):
            yield RawRecord(file, lineno, data)
        else:
            yield RawRecord(file, lineno, None, f"expected a JSON object, found {type(data).__name__}")


_WS = " \t\r\n"


class _JsonArrayReader:
    """Streams the elements of a top-level JSON array without loading the whole file.

    Text is read in ~1 MiB chunks; each element is decoded with :meth:`json.JSONDecoder.raw_decode` as soon as
    the buffer holds all of it, and line numbers are kept by counting newlines over the consumed text.
    """

    def __init__(self, stream: io.TextIOWrapper, file: str) -> None:
        self.stream = stream
        self.file = file
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(_CHUNK_CHARS)
        if not chunk:
            self.eof = True
            return False
        if self.pos:
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += chunk
        return True

    def _advance(self, end: int) -> None:
        self.line += self.buf.count("\n", self.pos, end)
        self.pos = end

    def _skip_ws(self) -> str:
        """The next significant character ('' at end of file), with ``pos`` on it."""
        while True:
            buf, pos, n = self.buf, self.pos, len(self.buf)
            while pos < n and buf[pos] in _WS:
                pos += 1
            self._advance(pos)
            if pos < n:
                return buf[pos]
            if not self._fill():
                return ""

    def _decode(self) -> tuple[Any, str | None]:
        """Decode the value at ``pos``; returns ``(value, None)`` or ``(None, error message)``."""
        last_offset = -1
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # The buffer may simply end inside this element: read on and retry. An error right at the end
                # of the buffer or inside an unfinished string is that; any other error that stays at the same
                # place once more text is there is a real one (so a bad element costs one extra chunk).
                offset = exc.pos - self.pos
                at_end = exc.pos >= len(self.buf) - 16 or exc.msg.startswith("Unterminated string")
                if (at_end or offset != last_offset) and self._fill():
                    last_offset = offset
                    continue
                line = self.line + self.buf.count("\n", self.pos, exc.pos)
                return None, f"malformed JSON ({exc.msg} at line {line})"
            if end >= len(self.buf) and not self.eof and self._fill():
                continue  # a number or literal may continue in the next chunk
            self._advance(end)
            return value, None

    def records(self) -> Iterator[RawRecord]:
        first = self._skip_ws()
        if first == "":
            return
        if first == "{":
            start = self.line
            value, error = self._decode()
            yield RawRecord(self.file, start, value if error is None else None, error)
            return
        if first != "[":
            raise ReaderError(f"{self.file}:{self.line}: expected a JSON array of records, found {first!r}")
        self._advance(self.pos + 1)
        expect_value = True
        while True:
            ch = self._skip_ws()
            if ch == "":
                yield RawRecord(self.file, self.line, None, "malformed JSON (the array is not closed)")
                return
            if ch == "]":
                return
            if not expect_value:
                if ch != ",":
                    reason = f"malformed JSON (expected ',' or ']', found {ch!r}); rest of file skipped"
                    yield RawRecord(self.file, self.line, None, reason)
                    return
                self._advance(self.pos + 1)
                expect_value = True
                continue
            start = self.line
            value, error = self._decode()
            if error is not None:
                yield RawRecord(self.file, start, None, error + "; rest of file skipped")
                return
            expect_value = False
            if isinstance(value, dict):
                yield RawRecord(self.file, start, value)
            else:
                yield RawRecord(
                    self.file, start, None, f"expected a JSON object, found {type(value).__name__}"
                )


def iter_json(stream: io.TextIOWrapper, file: str) -> Iterator[RawRecord]:
    """The objects of a JSON array file (or a single JSON object), streamed element by element."""
    return _JsonArrayReader(stream, file).records()


# -------------------------------------------------------------------------------------------------- parquet


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise ReaderError(
            "reading parquet needs pyarrow, an optional dependency: pip install 'prgym[parquet]'"
        ) from None
    return pq


def parquet_columns(source: IO[bytes]) -> list[str]:
    """Column names from a parquet file's schema (reads only the footer)."""
    return list(_pyarrow_parquet().ParquetFile(source).schema_arrow.names)


def iter_parquet(
    source: IO[bytes], file: str, columns: Sequence[str] | None = None, batch_size: int = 4096
) -> Iterator[RawRecord]:
    """Rows of a parquet file as dicts, read in row batches; ``line`` is the 1-based row number."""
    parquet = _pyarrow_parquet().ParquetFile(source)
    wanted = None
    if columns is not None:
        names = set(parquet.schema_arrow.names)
        wanted = [c for c in columns if c in names]
    row = 0
    for batch in parquet.iter_batches(batch_size=batch_size, columns=wanted):
        for data in batch.to_pylist():
            row += 1
            yield RawRecord(file, row, data)
