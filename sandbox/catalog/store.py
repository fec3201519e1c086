"""On-disk product store with fast random access by id or ordinal.

SQLite keeps one file per snapshot, streams on write (memory stays flat however large the catalog) and answers a
lookup by primary key in microseconds. Each product also has an *ordinal*: its position in ascending product-id
order. Backends use ordinals as compact document keys, so "ties broken by product id" is "ties broken by ordinal".
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from sandbox.catalog.errors import REBUILD_HINT, DamagedSnapshotError, NotASnapshotError
from sandbox.catalog.product import Product

STORE_FILENAME = "products.sqlite"
_STAGING_FILENAME = "staging.sqlite"


_IN_CHUNK = 500  # bound parameters per IN (...) query; SQLite allows 999 in old builds
_CACHE_SIZE = 4096


class ProductStoreWriter:
    """Collects products in any order, then writes them sorted by id with their ordinals.

    Products go to a staging table keyed by id first; :meth:`finish` copies them in id order into the final table
    and removes the staging file. The caller learns about an id it already added through :meth:`add`'s result.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._staging_path = directory / _STAGING_FILENAME
        self._staging_path.unlink(missing_ok=True)
        self._db = sqlite3.connect(self._staging_path)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE staging (product_id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;"
        )
        self._pending: list[tuple[str, str]] = []

    def add(self, product: Product) -> None:
        self._pending.append((product.product_id, product.model_dump_json(exclude_defaults=True)))
        if len(self._pending) >= 5000:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT OR IGNORE INTO staging VALUES (?, ?)", self._pending)
        self._pending.clear()

    def finish(self) -> int:
        """Write the final store and return the number of distinct products."""
        self._flush()
        self._db.commit()
        final_path = self._directory / STORE_FILENAME
        final_path.unlink(missing_ok=True)
        self._db.execute("ATTACH DATABASE ? AS final", (str(final_path),))
        self._db.executescript(
            "CREATE TABLE final.products (ord INTEGER PRIMARY KEY, product_id TEXT NOT NULL UNIQUE,"
            " doc TEXT NOT NULL);"
            "INSERT INTO final.products (ord, product_id, doc)"
            " SELECT row_number() OVER (ORDER BY product_id) - 1, product_id, doc FROM staging"
            " ORDER BY product_id;"
        )
        self._db.commit()
        (count,) = self._db.execute("SELECT count(*) FROM final.products").fetchone()
        self._db.execute("DETACH DATABASE final")
        self._db.close()
        self._staging_path.unlink(missing_ok=True)
        return int(count)

    def abort(self) -> None:
        self._db.close()
        self._staging_path.unlink(missing_ok=True)


class ProductStore:
    """Read-only access to a snapshot's products; safe to share between threads (one connection per thread).

    A damaged file or record is a :class:`DamagedSnapshotError` naming the store (never a raw ``sqlite3`` or
    pydantic error, which a tool call would otherwise report as the agent's bad arguments).
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise NotASnapshotError(
                f"product store not found: {path}",
                hint="the snapshot is incomplete; rebuild it with `prgym catalog build`",
            )
        self.path = path
        self._local = threading.local()
        try:
            (self._count,) = self._connection().execute("SELECT count(*) FROM products").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(f"not a readable product store ({exc})") from None
        # Recently read products (search pages repeat across steps); guarded because envs share a store.
        self._cache: OrderedDict[str, Product | None] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _damaged(self, what: str) -> DamagedSnapshotError:
        return DamagedSnapshotError(
            f"catalog snapshot {self.path.parent} is damaged: {self.path.name}: {what}",
            hint=f"{REBUILD_HINT} (`prgym catalog verify --catalog {self.path.parent}` lists every problem)",
        )

    def _product(self, doc: str, product_id: str) -> Product:
        try:
            return Product.model_validate_json(doc)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(map(str, err["loc"])) or "record"
            raise self._damaged(
                f"the stored record of {product_id!r} is damaged ({where}: {err['msg']})"
            ) from None

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(f"cannot be read ({exc})") from None

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            self._local.db = db
        return db

    def __len__(self) -> int:
        return self._count

    def _rows_in(self, columns: str, key: str, values: Sequence[object]) -> list[tuple]:
        """``SELECT columns ... WHERE key IN (values)``: one query per :data:`_IN_CHUNK` values (a search page is
        one query, not one per hit)."""
        rows: list[tuple] = []
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows += self._rows(f"SELECT {columns} FROM products WHERE {key} IN ({marks})", tuple(chunk))
        return rows

    def get(self, product_ids: Sequence[str]) -> list[Product | None]:
        """Products in the order asked; ``None`` where the id is unknown. Ids not in the cache are read in one
        query."""
        with self._cache_lock:
            known = {pid: self._cache[pid] for pid in product_ids if pid in self._cache}
            for pid in known:
                self._cache.move_to_end(pid)
        missing = list(dict.fromkeys(pid for pid in product_ids if pid not in known))
        if missing:
            found: dict[str, Product | None] = dict.fromkeys(missing)
            for doc, pid in self._rows_in("doc, product_id", "product_id", missing):
                found[pid] = self._product(doc, pid)
            known.update(found)
            with self._cache_lock:
                self._cache.update(found)
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return [known[pid] for pid in product_ids]

    def _at_ords(self, columns: str, ords: Sequence[int]) -> list[tuple]:
        wanted = [int(o) for o in ords]
        by_ord = {row[0]: row[1:] for row in self._rows_in(f"ord, {columns}", "ord", list(set(wanted)))}
        for ord_ in wanted:
            if ord_ not in by_ord:
                raise IndexError(f"ordinal {ord_} is outside the store (size {self._count})")
        return [by_ord[o] for o in wanted]

    def get_by_ords(self, ords: Sequence[int]) -> list[Product]:
        """Products at the given ordinals (each must be in ``range(len(self))``), in one query."""
        return [self._product(doc, pid) for doc, pid in self._at_ords("doc, product_id", ords)]

    def id_at(self, ords: Sequence[int]) -> list[str]:
        """Product ids at the given ordinals, in one query."""
        return [row[0] for row in self._at_ords("product_id", ords)]

    def product_ids(self) -> list[str]:
        """Every product id in ordinal (ascending id) order."""
        return [row[0] for row in self._rows("SELECT product_id FROM products ORDER BY ord")]

    def _stream(self, sql: str, batch_size: int) -> Iterator[list[tuple]]:
        try:
            cursor = self._connection().execute(sql)
            while rows := cursor.fetchmany(batch_size):
                yield rows
        except sqlite3.DatabaseError as exc:
            raise self._damaged(f"cannot be read ({exc})") from None

    def iter_products(self, batch_size: int = 2000) -> Iterator[tuple[int, Product]]:
        """Stream ``(ordinal, product)`` in ordinal order without loading the catalog into memory."""
        for rows in self._stream("SELECT ord, doc, product_id FROM products ORDER BY ord", batch_size):
            for ord_, doc, product_id in rows:
                yield ord_, self._product(doc, product_id)

    def iter_raw(self, batch_size: int = 2000) -> Iterator[tuple[int, str, str]]:
        """Stream ``(ordinal, product_id, json)`` rows: the canonical bytes the snapshot id is hashed from."""
        for rows in self._stream("SELECT ord, product_id, doc FROM products ORDER BY ord", batch_size):
            yield from rows
