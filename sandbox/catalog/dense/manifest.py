"""What a snapshot records about its dense index (``manifest.json`` -> ``extras.dense``), and the model check.

The record names the model (id and file fingerprint), the vector dimension and storage type, the text format and
every index parameter. Opening the snapshot compares the model the caller wants with the recorded one *before*
loading anything, and refuses a mismatch with a message that says both and what to do.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from sandbox.catalog.dense.embedder import ModelSpec
from sandbox.catalog.dense.faiss_index import IndexParams
from sandbox.catalog.snapshot import Snapshot
from sandbox.errors import UserError

DENSE_DIRNAME = "dense"
DENSE_EXTRAS_KEY = "dense"
DENSE_FORMAT_VERSION = 1


class DenseModelMismatchError(UserError, ValueError):
    """The snapshot's vectors come from a different model than the one asked for."""


class DenseIndexMissingError(UserError, FileNotFoundError):
    """The snapshot has no (readable) dense index."""


class DenseManifest(BaseModel):
    """``extras.dense`` of a snapshot manifest."""

    format_version: int = DENSE_FORMAT_VERSION
    model: ModelSpec
    dimension: int
    dtype: str
    normalized: bool = True
    text_format: str
    count: int
    index: IndexParams
    encoded: int
    texts_encoded: int
    reused: int
    encode_seconds: float
    build_seconds: float
    built_at: str

    @property
    def model_key(self) -> str:
        return cache_model_key(self.model)


def cache_model_key(spec: ModelSpec) -> str:
    """The model part of embedding-cache keys: id plus fingerprint, so a retrained model never hits."""
    return f"{spec.model_id}#{spec.fingerprint or '-'}"


def read_dense_manifest(snapshot: Snapshot) -> DenseManifest:
    raw = snapshot.manifest.extras.get(DENSE_EXTRAS_KEY)
    if raw is None:
        raise DenseIndexMissingError(
            f"snapshot {snapshot.dir} has no dense index (it was built without --dense)",
            hint="search it with --mode lexical, or rebuild it with `prgym catalog build --dense --out DIR`",
        )
    try:
        manifest = DenseManifest.model_validate(raw)
    except ValidationError as exc:
        raise DenseIndexMissingError(
            f"snapshot {snapshot.dir}: the dense index record is unreadable ({exc.error_count()} errors: "
            f"{exc.errors()[0]['loc']} {exc.errors()[0]['msg']}); rebuild it with `prgym catalog build --dense`"
        ) from exc
    if manifest.format_version != DENSE_FORMAT_VERSION:
        raise DenseIndexMissingError(
            f"snapshot {snapshot.dir}: dense index format {manifest.format_version}, this prgym reads "
            f"{DENSE_FORMAT_VERSION}; rebuild it with `prgym catalog build --dense`"
        )
    if manifest.count != len(snapshot):
        raise DenseIndexMissingError(
            f"snapshot {snapshot.dir}: dense index holds {manifest.count} vectors for {len(snapshot)} products; "
            "it belongs to another build, rebuild it with `prgym catalog build --dense`"
        )
    return manifest


def check_model(snapshot: Snapshot, recorded: DenseManifest, wanted: ModelSpec) -> None:
    """Refuse to search a snapshot's vectors with a different model than the one that made them."""
    if recorded.model.same_model(wanted):
        return
    raise DenseModelMismatchError(
        f"dense model mismatch for snapshot {snapshot.dir} ({snapshot.snapshot_id}): its vectors were built with "
        f"{recorded.model.describe()} ({recorded.dimension} dimensions), but this backend was asked to use "
        f"{wanted.describe()}. Query vectors from one model cannot be compared with product vectors from another. "
        f"Open it with the model it was built with, or rebuild the dense index with the new model "
        f"(`prgym catalog build --dense --dense-model ...`)."
    )
