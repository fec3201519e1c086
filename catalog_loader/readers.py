"""Streaming readers: files in, one raw record at a time out, each tagged with its file and line.

Nothing here holds more than one record (plus a bounded read buffer) in memory, so a 2.5M-product file loads in
the same memory as a 100-product one. A row the reader itself cannot make sense of (broken CSV quoting, a line
that is not JSON) comes out as a :class:`RawRecord` with ``error`` set instead of raising: the loader reports it
with its line number and carries on with the next row. Compressed inputs (``.gz``, ``.zip``) are opened
transparently; a zip's members are read one after the other as separate files named ``archive.zip!member``.

Hostile files are expected: a text file is sniffed before it is decoded (a UTF-16/32 byte-order mark or the
NUL pattern of BOM-less UTF-16 picks that codec; other NUL bytes mean a binary file, refused with one error
naming it), a broken element of a JSON array is skipped up to the next element so the valid rows behind it load,
and a value nested deeper than the JSON decoder can go is a reject, never a ``RecursionError``.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import glob
import gzip
import io
import json
import re
import sys
import zipfile
import zlib
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
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ReaderError(f"{path}: not a readable zip archive ({exc})") from None
        with archive:
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


#: Errors a compressed or damaged stream raises while it is read (gzip/zip/zlib/truncation/decoding).
STREAM_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    UnicodeDecodeError,
)

_SNIFF_BYTES = 8192
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MAGIC = (
    (b"\x1f\x8b", "a gzip file (name it .gz)"),
    (b"PK\x03\x04", "a zip archive (name it .zip)"),
    (b"PAR1", "a parquet file (set format = 'parquet')"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"%PDF", "a PDF document"),
)


class _Replay(io.RawIOBase):
    """A binary stream that gives back the bytes already read for sniffing, then the rest of the source."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def sniff_encoding(head: bytes, encoding: str, file: str) -> str:
    """The codec to decode a text file with, judged from its first bytes.

    A UTF-16/32 byte-order mark wins over the configured encoding (it cannot occur at the start of text in any
    8-bit encoding); NUL bytes on every other position without a mark are UTF-16 of mostly-ASCII text; any
    other NUL byte means the file is not text at all, and that is one :class:`ReaderError` naming the file.
    """
    if encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32", "utf16", "utf32")):
        return encoding
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    if b"\x00" not in head:
        return encoding
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4:
        if odd.count(0) >= 0.9 * len(odd) and even.count(0) <= 0.1 * len(even):
            return "utf-16-le"
        if even.count(0) >= 0.9 * len(even) and odd.count(0) <= 0.1 * len(odd):
            return "utf-16-be"
    kind = next((label for magic, label in _MAGIC if head.startswith(magic)), None)
    offset = head.index(0)
    what = f"it looks like {kind}" if kind else f"NUL byte at offset {offset}"
    raise ReaderError(f"{file}: a binary file, not text ({what}); point the source at its text data file")


def text_stream(binary: IO[bytes], encoding: str, errors: str, file: str = "<stream>") -> io.TextIOWrapper:
    """Decoded text with line ends kept as they are (``newline=""``), as the csv module requires.

    The first bytes are read to pick the codec (:func:`sniff_encoding`); a stream that cannot even be read that
    far (not gzip after all, a damaged zip member) is a :class:`ReaderError` naming the file.
    """
    try:
        head = binary.read(_SNIFF_BYTES)
    except STREAM_ERRORS as exc:
        raise ReaderError(f"{file}: cannot be read ({describe_stream_error(exc)})") from None
    codec = sniff_encoding(head, encoding, file)
    raw = io.BufferedReader(_Replay(head, binary), buffer_size=1 << 16)
    return io.TextIOWrapper(raw, encoding=codec, errors=errors, newline="")


def describe_stream_error(exc: BaseException) -> str:
    """A short reason for a stream failure: the exception type is often the only message (EOFError)."""
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"not valid {exc.encoding}: byte 0x{exc.object[exc.start]:02x} cannot be decoded; set encoding "
            "to the file's real encoding or encoding_errors = 'replace'"
        )
    if isinstance(exc, EOFError):
        return "the compressed data ends early: the file is truncated"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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


def check_unique_columns(names: Sequence[str], file: str, where: str = "the header row") -> None:
    """Refuse a file whose columns repeat a name: rows are dicts keyed by name, so one column would silently
    overwrite the other (whichever comes last wins) and the mapping would read the wrong values."""
    first: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in first:
            raise ReaderError(
                f"{file}: {where} names column {name!r} twice (columns {first[name]} and {position}); "
                "rename one of them (or give columns) so neither is silently dropped"
            )
        first[name] = position


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
    if names is not None:
        check_unique_columns(names, file, "columns")
        if on_header is not None:
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
            check_unique_columns(names, f"{file}:{start}")
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


def too_deep_reason() -> str:
    """The reject reason for a value nested deeper than the JSON decoder can go (it recurses per level)."""
    return (
        f"a value nested too deeply (more than about {sys.getrecursionlimit()} levels of arrays/objects); "
        "refused"
    )


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
        except RecursionError:
            yield RawRecord(file, lineno, None, too_deep_reason())
            continue
        if isinstance(data, dict):
            yield RawRecord(file, lineno, data)
        else:
            yield RawRecord(file, lineno, None, f"expected a JSON object, found {type(data).__name__}")


_WS = " \t\r\n"
# While skipping a broken element: the characters that matter outside a string, and inside one (a raw newline
# cannot occur inside a JSON string, so it ends an unterminated one).
_OUTSIDE_STRING = re.compile(r'[\[\]{}",]')
_INSIDE_STRING = re.compile(r'["\\\n]')


class _JsonArrayReader:
    """Streams the elements of a top-level JSON array without loading the whole file.

    Text is read in ~1 MiB chunks; each element is decoded with :meth:`json.JSONDecoder.raw_decode` as soon as
    the buffer holds all of it, and line numbers are kept by counting newlines over the consumed text. A broken
    element is skipped structurally (strings and bracket nesting tracked) up to the ``,`` or ``]`` that ends it,
    so one bad element costs one reject, not the rest of the file.
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
            except RecursionError:
                return None, too_deep_reason()
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

    def _previous_significant(self, index: int, carried: str) -> str:
        """The last non-blank character before ``index`` in the buffer (``carried``: the one before it)."""
        buf, k = self.buf, index - 1
        while k >= self.pos and buf[k] in _WS:
            k -= 1
        return buf[k] if k >= self.pos else carried

    def _only_blank_after(self) -> bool:
        """Whether nothing but whitespace follows the character at ``pos`` (reads on as needed)."""
        k = self.pos + 1
        while True:
            buf, n = self.buf, len(self.buf)
            while k < n and buf[k] in _WS:
                k += 1
            if k < n:
                return False
            k -= self.pos
            if not self._fill():
                return True
            k += self.pos

    def _skip_element(self) -> str:
        """Skip the broken element at ``pos``; returns what ends it, consuming the text as it goes.

        ``','``: the separator (consumed), the next element follows; ``']'``: the end of the array (``pos`` on
        it; a ``]`` with more text behind it is junk, not the end); ``'{'`` or ``'['``: an object never closed and a new element starts at ``pos`` (a value right after
        a ``,`` inside an object, where only a key may stand); ``''``: the file ended first.
        """
        stack = bytearray()  # b"{" / b"[" per open level (1 byte each, so even 50k-deep junk is cheap)
        in_string = False
        carried = ""  # the last significant character of text already consumed
        while True:
            buf, i, n = self.buf, self.pos, len(self.buf)
            while i < n:
                if in_string:
                    m = _INSIDE_STRING.search(buf, i)
                    if m is None:
                        i = n
                        break
                    j = m.start()
                    if m.group() == "\\":
                        if j + 1 >= n:
                            i = j  # what it escapes is in the next chunk
                            break
                        i = j + 2
                        continue
                    in_string = False  # closed by '"', or never closed on this line
                    i = j + 1
                    continue
                m = _OUTSIDE_STRING.search(buf, i)
                if m is None:
                    i = n
                    break
                c, j = m.group(), m.start()
                if c == '"':
                    in_string = True
                elif c in "{[":
                    if stack and stack[-1] == 0x7B and self._previous_significant(j, carried) == ",":
                        self._advance(j)
                        return c
                    stack.append(ord(c))
                elif c in "}]":
                    if stack:
                        stack.pop()
                    elif c == "]":
                        self._advance(j)
                        if self._only_blank_after():
                            return c
                        buf, i, n = self.buf, self.pos + 1, len(self.buf)  # a stray ']' inside the junk
                        continue
                elif not stack:  # ',' at the array's own level
                    self._advance(j + 1)
                    return c
                i = j + 1
            tail = buf[self.pos : i].rstrip(_WS)
            if tail:
                carried = tail[-1]
            self._advance(i)
            if not self._fill():
                return ""

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
                self._advance(self.pos + 1)
                if self._skip_ws() != "":
                    yield RawRecord(
                        self.file, self.line, None, "malformed JSON (text after the closing ']'; ignored)"
                    )
                return
            start = self.line
            if not expect_value:
                if ch == ",":
                    self._advance(self.pos + 1)
                    expect_value = True
                    continue
                error: str | None = f"malformed JSON (expected ',' or ']' before {ch!r})"
            else:
                value, error = self._decode()
            if error is not None:
                end = self._skip_element()
                if end == "":
                    error += "; the array is never closed"
                yield RawRecord(self.file, start, None, error)
                if end == "":
                    return
                expect_value = end != "]"
                continue
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


def _open_parquet(source: IO[bytes], file: str) -> Any:
    """A ``ParquetFile``, or one :class:`ReaderError` naming the file when it is not (or no longer) parquet."""
    pq = _pyarrow_parquet()
    try:
        return pq.ParquetFile(source)
    except (ValueError, OSError, EOFError) as exc:  # pyarrow's ArrowInvalid / ArrowIOError derive from these
        raise ReaderError(f"{file}: not a readable parquet file ({exc})") from None


def parquet_columns(source: IO[bytes], file: str = "<parquet>") -> list[str]:
    """Column names from a parquet file's schema (reads only the footer)."""
    return list(_open_parquet(source, file).schema_arrow.names)


def iter_parquet(
    source: IO[bytes], file: str, columns: Sequence[str] | None = None, batch_size: int = 4096
) -> Iterator[RawRecord]:
    """Rows of a parquet file as dicts, read in row batches; ``line`` is the 1-based row number."""
    parquet = _open_parquet(source, file)
    check_unique_columns(parquet.schema_arrow.names, file, "the parquet schema")
    wanted = None
    if columns is not None:
        names = set(parquet.schema_arrow.names)
        wanted = [c for c in columns if c in names]
    row = 0
    for batch in parquet.iter_batches(batch_size=batch_size, columns=wanted):
        for data in batch.to_pylist():
            row += 1
            yield RawRecord(file, row, data)


# ------------------------------------------------------------------------------------------------ guarding


def guarded(records: Iterator[RawRecord], file: str, parquet: bool = False) -> Iterator[RawRecord]:
    """``records`` with a file that breaks while it is read turned into something a build can report.

    Broken before its first record (not gzip after all, not parquet, undecodable from the start): one
    :class:`ReaderError` naming the file, since nothing of it can load. Broken part way (a truncated ``.gz``, a
    zip member failing its CRC, a strict decoding error): the rows before it stand and one error record says
    where the rest of the file was lost, so the counts still reconcile and the next file is read.
    """
    errors = STREAM_ERRORS + ((ValueError,) if parquet else ())
    last_line = 0
    try:
        for record in records:
            last_line = record.line
            yield record
    except RecursionError:
        yield RawRecord(file, last_line + 1, None, too_deep_reason() + "; the rest of the file is skipped")
    except ReaderError:
        raise  # already one sentence naming the file (a ValueError too, so keep it out of the next clause)
    except errors as exc:
        if last_line == 0:
            raise ReaderError(f"{file}: cannot be read ({describe_stream_error(exc)})") from None
        reason = f"reading stopped after line {last_line} ({describe_stream_error(exc)}); the rest of the file is lost"
        yield RawRecord(file, last_line + 1, None, reason)
