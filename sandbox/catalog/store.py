"""On-disk product store with fast random access by id or ordinal.

SQLite keeps one file per snapshot, streams on write (memory stays flat however large the catalog) and answers a
lookup by primary key in microseconds. Each product also has an *ordinal*: its position in ascending product-id
order. Backends use ordinals as compact document keys, so "ties broken by product id" is "ties broken by ordinal".
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from sandbox.catalog.errors import NotASnapshotError
from sandbox.catalog.product import Product

STORE_FILENAME = "products.sqlite"
_STAGING_FILENAME = "staging.sqlite"


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
    """Read-only access to a snapshot's products; safe to share between threads (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise NotASnapshotError(
                f"product store not found: {path}",
                hint="the snapshot is incomplete; rebuild it with `prgym catalog build`",
            )
        self.path = path
        self._local = threading.local()
        (self._count,) = self._connection().execute("SELECT count(*) FROM products").fetchone()
        self._cached_get = lru_cache(maxsize=4096)(self._get_one)

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            self._local.db = db
        return db

    def __len__(self) -> int:
        return self._count

    def _get_one(self, product_id: str) -> Product | None:
        row = (
            self._connection()
            .execute("SELECT doc FROM products WHERE product_id = ?", (product_id,))
            .fetchone()
        )
        return Product.model_validate_json(row[0]) if row else None

    def get(self, product_ids: Sequence[str]) -> list[Product | None]:
        """Products in the order asked; ``None`` where the id is unknown."""
        return [self._cached_get(pid) for pid in product_ids]

    def get_by_ords(self, ords: Sequence[int]) -> list[Product]:
        """Products at the given ordinals (each must be in ``range(len(self))``)."""
        db = self._connection()
        out = []
        for ord_ in ords:
            row = db.execute("SELECT doc FROM products WHERE ord = ?", (int(ord_),)).fetchone()
            if row is None:
                raise IndexError(f"ordinal {ord_} is outside the store (size {self._count})")
            out.append(Product.model_validate_json(row[0]))
        return out

    def id_at(self, ords: Sequence[int]) -> list[str]:
        """Product ids at the given ordinals."""
        db = self._connection()
        out = []
        for ord_ in ords:
            row = db.execute("SELECT product_id FROM products WHERE ord = ?", (int(ord_),)).fetchone()
            if row is None:
                raise IndexError(f"ordinal {ord_} is outside the store (size {self._count})")
            out.append(row[0])
        return out

    def product_ids(self) -> list[str]:
        """Every product id in ordinal (ascending id) order."""
        return [row[0] for row in self._connection().execute("SELECT product_id FROM products ORDER BY ord")]

    def iter_products(self, batch_size: int = 2000) -> Iterator[tuple[int, Product]]:
        """Stream ``(ordinal, product)`` in ordinal order without loading the catalog into memory."""
        cursor = self._connection().execute("SELECT ord, doc FROM products ORDER BY ord")
        while rows := cursor.fetchmany(batch_size):
            for ord_, doc in rows:
                yield ord_, Product.model_validate_json(doc)

    def iter_raw(self, batch_size: int = 2000) -> Iterator[tuple[int, str, str]]:
        """Stream ``(ordinal, product_id, json)`` rows: the canonical bytes the snapshot id is hashed from."""
        cursor = self._connection().execute("SELECT ord, product_id, doc FROM products ORDER BY ord")
        while rows := cursor.fetchmany(batch_size):
            yield from rows
