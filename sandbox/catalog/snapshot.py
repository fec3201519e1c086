"""Catalog snapshots: a directory that pins one exact catalog (products, counts, indexes) under a content id.

Every episode records the snapshot id it ran against, so results can be traced to the exact products an agent
saw. The id hashes the canonical product records in id order plus the schema and format versions: the same input
always yields the same id, and any change to a product yields a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from sandbox import __version__
from sandbox.catalog.errors import REBUILD_HINT, IncompatibleSnapshotError, NotASnapshotError
from sandbox.catalog.integrity import FileEntry, check_on_open, manifest_seal, record_files
from sandbox.catalog.product import PRODUCT_SCHEMA_VERSION
from sandbox.catalog.store import STORE_FILENAME, ProductStore

SNAPSHOT_FORMAT_VERSION = 1
MANIFEST_FILENAME = "manifest.json"
REJECTS_FILENAME = "rejects.jsonl"


class SourceCounts(BaseModel):
    """How one source's rows ended up: ``read == loaded + rejected + duplicates``."""

    source: str
    read: int
    loaded: int
    rejected: int
    duplicates: int


class SnapshotManifest(BaseModel):
    """``manifest.json``: what the snapshot holds and which code can read it."""

    format_version: int = SNAPSHOT_FORMAT_VERSION
    product_schema_version: int = PRODUCT_SCHEMA_VERSION
    snapshot_id: str
    prgym_version: str = __version__
    built_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    n_products: int
    sources: list[SourceCounts] = Field(default_factory=list)
    lexical: dict[str, Any] = Field(default_factory=dict)
    extras: dict[str, Any] = Field(
        default_factory=dict, description="Optional indexes (e.g. dense) record here."
    )
    files: dict[str, FileEntry] = Field(
        default_factory=dict,
        description="Every content file (relative path) with its size and SHA-256, recorded at build time; "
        "empty in snapshots built before checksums were recorded.",
    )
    seal: str | None = Field(
        default=None, description="SHA-256 of this manifest's canonical JSON without the seal (set on write)."
    )


def content_id(rows: Iterable[tuple[str, str]]) -> str:
    """Content hash over ``(product_id, canonical json)`` rows in id order, salted with the versions."""
    digest = hashlib.sha256(f"prgym-snapshot/{SNAPSHOT_FORMAT_VERSION}/{PRODUCT_SCHEMA_VERSION}\n".encode())
    for product_id, doc in rows:
        digest.update(product_id.encode())
        digest.update(b"\x1f")
        digest.update(doc.encode())
        digest.update(b"\x1e")
    return "cat-" + digest.hexdigest()[:20]


def compute_snapshot_id(store: ProductStore) -> str:
    """Content hash over the canonical records in id order, salted with the schema and format versions."""
    return content_id((product_id, doc) for _, product_id, doc in store.iter_raw())


def write_manifest(directory: Path, manifest: SnapshotManifest) -> None:
    """Write ``manifest.json`` atomically, sealed (see :mod:`sandbox.catalog.integrity`)."""
    manifest.seal = manifest_seal(manifest.model_dump(mode="json"))
    path = directory / MANIFEST_FILENAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_manifest(directory: Path) -> SnapshotManifest:
    """Read and check a manifest; an unknown format or schema version fails with what to do about it."""
    return validate_manifest(directory, read_manifest_raw(directory))


def read_manifest_raw(directory: Path) -> dict[str, Any]:
    """The manifest as a JSON object, or a :class:`SnapshotError` saying why it cannot be read."""
    directory = Path(directory)
    path = directory / MANIFEST_FILENAME
    if not Path(directory).is_dir():
        raise NotASnapshotError(
            f"catalog snapshot {directory} does not exist",
            hint=f"build one with `prgym catalog build --out {directory}`",
        )
    if not path.is_file() and (directory / STORE_FILENAME).exists():
        raise NotASnapshotError(
            f"catalog snapshot {directory} is damaged: {MANIFEST_FILENAME}: missing ({STORE_FILENAME} is there)",
            hint=REBUILD_HINT,
        )
    if not path.is_file():
        raise NotASnapshotError(
            f"{directory} is not a catalog snapshot (no {MANIFEST_FILENAME})",
            hint="pass the folder `prgym catalog build --out DIR` wrote",
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IncompatibleSnapshotError(
            f"snapshot manifest {path} is unreadable ({exc})", hint=REBUILD_HINT
        ) from exc
    if not isinstance(raw, dict):
        raise IncompatibleSnapshotError(f"snapshot manifest {path} is not a JSON object", hint=REBUILD_HINT)
    return raw


def validate_manifest(directory: Path, raw: dict[str, Any]) -> SnapshotManifest:
    """Check the versions and the fields of a manifest read by :func:`read_manifest_raw`."""
    path = Path(directory) / MANIFEST_FILENAME
    found = (raw.get("format_version"), raw.get("product_schema_version"))
    wanted = (SNAPSHOT_FORMAT_VERSION, PRODUCT_SCHEMA_VERSION)
    if found != wanted:
        raise IncompatibleSnapshotError(
            f"snapshot {directory} has format {found[0]} / product schema {found[1]} "
            f"(written by prgym {raw.get('prgym_version', '?')}); this prgym {__version__} reads format "
            f"{wanted[0]} / product schema {wanted[1]}. Rebuild it with `prgym catalog build`."
        )
    try:
        return SnapshotManifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise IncompatibleSnapshotError(
            f"snapshot manifest {path} is malformed ({problems})", hint=REBUILD_HINT
        ) from exc


class Snapshot:
    """An opened snapshot directory: manifest plus product store. Indexes are opened by their backends."""

    def __init__(self, directory: Path | str) -> None:
        self.dir = Path(directory)
        raw = read_manifest_raw(self.dir)
        self.manifest = validate_manifest(self.dir, raw)
        check_on_open(self.dir, raw, self.manifest.files)
        self.store = ProductStore(self.dir / STORE_FILENAME)
        if len(self.store) != self.manifest.n_products:
            raise IncompatibleSnapshotError(
                f"snapshot {self.dir}: manifest says {self.manifest.n_products} products, "
                f"store holds {len(self.store)}; the snapshot is damaged, rebuild it"
            )

    @property
    def snapshot_id(self) -> str:
        return self.manifest.snapshot_id

    def __len__(self) -> int:
        return len(self.store)

    def update_extras(self, key: str, value: dict[str, Any], files_under: str | None = None) -> None:
        """Record an optional index's parameters (e.g. the dense model) in the manifest.

        ``files_under``: the folder the index was just written to; its files' checksums replace the recorded ones
        (when the manifest records checksums at all).
        """
        self.manifest.extras[key] = value
        if files_under is not None and self.manifest.files:
            prefix = files_under.rstrip("/") + "/"
            kept = {rel: e for rel, e in self.manifest.files.items() if not rel.startswith(prefix)}
            self.manifest.files = dict(sorted((kept | record_files(self.dir, files_under)).items()))
        write_manifest(self.dir, self.manifest)
