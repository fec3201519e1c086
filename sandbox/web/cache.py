"""Persistent web cache: SQLite in WAL mode, safe with several processes reading and writing at once.

Every answer (search results, page text, page summaries) is stored under ``(namespace, key)`` where the key is
the hash of the normalized request (:mod:`sandbox.web.keys`). The normalized request, a checksum and the
first/last store times are kept beside the payload, so an entry can be inspected, verified and explained.

Why SQLite: one file, atomic commits, readers never block the writer in WAL mode, and ``busy_timeout`` plus
``BEGIN IMMEDIATE`` make concurrent writers queue instead of failing. Hit/miss counters are batched in memory
and flushed now and then, so a cache hit stays a single indexed read.

A :class:`WebCache` may be shared by the threads of one process; each process opens its own (a forked child
reopens the connection automatically).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sandbox.web.errors import CacheCorruptError, ConfigurationError
from sandbox.web.keys import CacheRequest

SCHEMA_VERSION = 1
EXPORT_FORMAT = "prgym-web-cache"
_COMPRESS_OVER = 1024  # bytes of JSON; smaller payloads are stored plain (faster hits, no gain from zlib)
_COUNTER_FLUSH_EVERY = 64
_LOCK_RETRIES = 20
# Connections inherited through fork() must never be closed in the child (SQLite forbids using them there, and
# closing could disturb the parent's locks); they are parked here for the life of the process instead.
_INHERITED: list[sqlite3.Connection] = []

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    provider   TEXT NOT NULL,
    request    TEXT NOT NULL,
    payload    BLOB NOT NULL,
    encoding   TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE IF NOT EXISTS counters (
    namespace TEXT NOT NULL,
    kind      TEXT NOT NULL,
    hits      INTEGER NOT NULL DEFAULT 0,
    misses    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, kind)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_UPSERT = """
INSERT INTO entries (namespace, key, kind, provider, request, payload, encoding, checksum, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (namespace, key) DO UPDATE SET
    kind = excluded.kind, provider = excluded.provider, request = excluded.request, payload = excluded.payload,
    encoding = excluded.encoding, checksum = excluded.checksum, updated_at = excluded.updated_at
"""


class CachedValue(BaseModel):
    """A stored answer and when it was first and last stored (unix seconds)."""

    payload: Any
    created_at: float
    updated_at: float


class KindStats(BaseModel):
    namespace: str
    kind: str
    entries: int
    payload_bytes: int
    hits: int
    misses: int
    oldest: float | None = None
    newest: float | None = None


class CacheStats(BaseModel):
    """What ``prgym web cache stats`` shows: per namespace and kind, plus the file size on disk."""

    path: str
    file_bytes: int
    kinds: list[KindStats]

    @property
    def entries(self) -> int:
        return sum(k.entries for k in self.kinds)

    @property
    def hits(self) -> int:
        return sum(k.hits for k in self.kinds)

    @property
    def misses(self) -> int:
        return sum(k.misses for k in self.kinds)


class ImportReport(BaseModel):
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    corrupt: list[str] = []


def encode_payload(payload: Any) -> tuple[bytes, str, str]:
    """(stored bytes, encoding, checksum of the JSON text)."""
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    checksum = hashlib.sha256(raw).hexdigest()
    if len(raw) > _COMPRESS_OVER:
        return zlib.compress(raw, 6), "json+zlib", checksum
    return raw, "json", checksum


def decode_payload(blob: bytes, encoding: str, checksum: str, *, key: str = "") -> Any:
    try:
        if encoding == "json+zlib":
            raw = zlib.decompress(blob)
        elif encoding == "json":
            raw = bytes(blob)
        else:
            raise CacheCorruptError(f"cache entry {key[:16]} has unknown encoding {encoding!r}")
    except zlib.error as exc:
        raise CacheCorruptError(f"cache entry {key[:16]} cannot be decompressed: {exc}") from exc
    if hashlib.sha256(raw).hexdigest() != checksum:
        raise CacheCorruptError(f"cache entry {key[:16]} does not match its checksum")
    return json.loads(raw)


class WebCache:
    """The cache file at ``path``, reading and writing entries of one ``namespace``.

    The namespace separates caches that must not mix (for example a frozen benchmark cache and a scratch one
    in the same file); the env records it as ``cache_namespace``.
    """

    def __init__(self, path: str | Path, namespace: str = "default", *, busy_timeout_s: float = 60.0) -> None:
        if not namespace or not namespace.strip():
            raise ConfigurationError("cache namespace must be a non-empty string")
        self.path = Path(path).expanduser()
        self.namespace = namespace
        self._busy_ms = int(busy_timeout_s * 1000)
        self._lock = threading.RLock()
        self._pending: dict[str, list[int]] = {}
        self._pending_count = 0
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._connection()

    # -- connection ------------------------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._conn is not None:
            _INHERITED.append(self._conn)
            self._conn = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(self.path), timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        self._retry_locked(lambda: self._init_schema(conn))
        self._conn, self._pid = conn, os.getpid()
        self._pending.clear()
        self._pending_count = 0
        return conn

    @staticmethod
    def _init_schema(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise ConfigurationError(
                    f"web cache schema version {row[0]} is not supported (expected {SCHEMA_VERSION})"
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _retry_locked(operation: Any) -> Any:
        """Run ``operation``, retrying the rare "database is locked" that the busy handler does not absorb."""
        delay = 0.01
        for attempt in range(_LOCK_RETRIES):
            try:
                return operation()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        conn = self._connection()

        def run() -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    conn.execute(sql, args)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        self._retry_locked(run)

    # -- entries ---------------------------------------------------------------------------------------------------

    def get(self, request: CacheRequest) -> CachedValue | None:
        """The stored answer to ``request`` in this namespace, or ``None``; counts a hit or a miss."""
        key = request.key()
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT payload, encoding, checksum, created_at, updated_at FROM entries "
                    "WHERE namespace = ? AND key = ?",
                    (self.namespace, key),
                )
                .fetchone()
            )
            self._count(request.kind, hit=row is not None)
        if row is None:
            return None
        payload = decode_payload(row[0], row[1], row[2], key=key)
        return CachedValue(payload=payload, created_at=row[3], updated_at=row[4])

    def put(self, request: CacheRequest, payload: Any, *, now: float | None = None) -> None:
        """Store ``payload`` (JSON-serializable) as the answer to ``request``, replacing an older answer."""
        blob, encoding, checksum = encode_payload(payload)
        stamp = time.time() if now is None else now
        args = (
            self.namespace,
            request.key(),
            request.kind,
            request.provider,
            request.canonical_json(),
            blob,
            encoding,
            checksum,
            stamp,
            stamp,
        )
        with self._lock:
            self._write([(_UPSERT, args)])

    def __contains__(self, request: CacheRequest) -> bool:
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT 1 FROM entries WHERE namespace = ? AND key = ?", (self.namespace, request.key())
                )
                .fetchone()
            )
        return row is not None

    def iter_entries(self, namespace: str | None = None) -> Iterator[tuple[dict[str, Any], Any]]:
        """``(normalized request, payload)`` of every entry of ``namespace`` (default: this cache's), by key."""
        ns = self.namespace if namespace is None else namespace
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    "SELECT key, request, payload, encoding, checksum FROM entries WHERE namespace = ? ORDER BY key",
                    (ns,),
                )
                .fetchall()
            )
        for key, request, blob, encoding, checksum in rows:
            yield json.loads(request), decode_payload(blob, encoding, checksum, key=key)

    def verify(self) -> list[str]:
        """Keys (in every namespace) whose payload fails its checksum or cannot be decoded; empty when healthy."""
        bad: list[str] = []
        with self._lock:
            cursor = self._connection().execute(
                "SELECT namespace, key, payload, encoding, checksum FROM entries"
            )
            for namespace, key, blob, encoding, checksum in cursor:
                try:
                    decode_payload(blob, encoding, checksum, key=key)
                except (CacheCorruptError, ValueError):
                    bad.append(f"{namespace}/{key}")
        return bad

    # -- counters and stats ------------------------------------------------------------------------------------------

    def _count(self, kind: str, *, hit: bool) -> None:
        slot = self._pending.setdefault(kind, [0, 0])
        slot[0 if hit else 1] += 1
        self._pending_count += 1
        if self._pending_count >= _COUNTER_FLUSH_EVERY:
            self.flush_counters()

    def flush_counters(self) -> None:
        """Write the batched hit/miss counts to the file (called every few lookups, by ``stats`` and ``close``)."""
        with self._lock:
            if not self._pending_count or self._conn is None or self._pid != os.getpid():
                return
            statements = [
                (
                    "INSERT INTO counters (namespace, kind, hits, misses) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (namespace, kind) DO UPDATE SET hits = hits + excluded.hits, "
                    "misses = misses + excluded.misses",
                    (self.namespace, kind, hits, misses),
                )
                for kind, (hits, misses) in sorted(self._pending.items())
            ]
            self._write(statements)
            self._pending.clear()
            self._pending_count = 0

    def stats(self) -> CacheStats:
        """Entries, payload bytes, hits and misses per namespace and kind, and the size of the files on disk."""
        self.flush_counters()
        with self._lock:
            conn = self._connection()
            sizes = {
                (ns, kind): (n, size, lo, hi)
                for ns, kind, n, size, lo, hi in conn.execute(
                    "SELECT namespace, kind, COUNT(*), SUM(LENGTH(payload)), MIN(created_at), MAX(updated_at) "
                    "FROM entries GROUP BY namespace, kind"
                )
            }
            counts = {(ns, kind): (h, m) for ns, kind, h, m in conn.execute("SELECT * FROM counters")}
        kinds = []
        for ns, kind in sorted(set(sizes) | set(counts)):
            n, size, lo, hi = sizes.get((ns, kind), (0, 0, None, None))
            hits, misses = counts.get((ns, kind), (0, 0))
            kinds.append(
                KindStats(
                    namespace=ns,
                    kind=kind,
                    entries=n,
                    payload_bytes=size or 0,
                    hits=hits,
                    misses=misses,
                    oldest=lo,
                    newest=hi,
                )
            )
        file_bytes = sum(
            p.stat().st_size
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
            if p.exists()
        )
        return CacheStats(path=str(self.path), file_bytes=file_bytes, kinds=kinds)

    # -- moving caches between machines -------------------------------------------------------------------------------

    def export(self, dest: str | Path, *, namespace: str | None = None, all_namespaces: bool = False) -> int:
        """Write entries (of ``namespace``, default this cache's, or of every namespace) to one SQLite file.

        The file is written beside ``dest`` and renamed into place, so a reader never sees half an export.
        Returns the number of entries written.
        """
        dest = Path(dest).expanduser()
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        out = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            out.executescript(_SCHEMA)
            out.execute("INSERT INTO meta (name, value) VALUES ('format', ?)", (EXPORT_FORMAT,))
            out.execute("INSERT INTO meta (name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            out.execute("INSERT INTO meta (name, value) VALUES ('exported_at', ?)", (repr(time.time()),))
            where, args = (
                ("", ()) if all_namespaces else (" WHERE namespace = ?", (namespace or self.namespace,))
            )
            with self._lock:
                rows = self._connection().execute(
                    "SELECT namespace, key, kind, provider, request, payload, encoding, checksum, created_at, "
                    f"updated_at FROM entries{where} ORDER BY namespace, key",
                    args,
                )
                out.execute("BEGIN")
                count = 0
                for row in rows:
                    out.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                    count += 1
                out.execute("COMMIT")
        finally:
            out.close()
        os.replace(tmp, dest)
        return count

    def import_file(
        self, src: str | Path, *, overwrite: bool = False, namespace: str | None = None
    ) -> ImportReport:
        """Merge an exported file into this cache; every entry's checksum is verified first.

        By default the newer answer (by ``updated_at``) wins on conflict; ``overwrite`` makes the file win.
        ``namespace`` stores every imported entry under that namespace instead of the one it was exported from.
        """
        src = Path(src).expanduser()
        if not src.is_file():
            raise ConfigurationError(f"cache file to import not found: {src}")
        source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
        try:
            try:
                meta = dict(source.execute("SELECT name, value FROM meta").fetchall())
            except sqlite3.DatabaseError as exc:
                raise ConfigurationError(f"{src} is not a prgym web cache file ({exc})") from exc
            version = int(meta.get("schema_version", "-1"))
            if version != SCHEMA_VERSION:
                raise ConfigurationError(
                    f"{src}: web cache schema version {version} is not supported (expected {SCHEMA_VERSION})"
                )
            rows = source.execute(
                "SELECT namespace, key, kind, provider, request, payload, encoding, checksum, created_at, updated_at "
                "FROM entries ORDER BY namespace, key"
            ).fetchall()
        finally:
            source.close()
        report = ImportReport()
        valid = []
        for row in rows:
            try:
                decode_payload(row[5], row[6], row[7], key=row[1])
            except (CacheCorruptError, ValueError):
                report.corrupt.append(f"{row[0]}/{row[1]}")
                continue
            valid.append((namespace or row[0], *row[1:]))
        with self._lock:
            conn = self._connection()

            def run() -> None:
                report.inserted = report.updated = report.skipped = 0  # a retried attempt starts over
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for row in valid:
                        existing = conn.execute(
                            "SELECT updated_at FROM entries WHERE namespace = ? AND key = ?", (row[0], row[1])
                        ).fetchone()
                        if existing is not None and not overwrite and existing[0] >= row[9]:
                            report.skipped += 1
                            continue
                        conn.execute(
                            "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row
                        )
                        if existing is None:
                            report.inserted += 1
                        else:
                            report.updated += 1
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise

            self._retry_locked(run)
        return report

    # -- lifecycle -----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self.flush_counters()
            finally:
                if self._pid == os.getpid():
                    self._conn.close()
                else:
                    _INHERITED.append(self._conn)
                self._conn = None

    def __enter__(self) -> WebCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
