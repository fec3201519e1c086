"""What a snapshot records about its dense index (``manifest.json`` -> ``extras.dense``), and the model check.

The record names the model (id and file fingerprint), the vector dimension and storage type, the text format and
every index parameter. Opening the snapshot compares the model the caller wants with the recorded one *before*
loading anything, and refuses a mismatch with a message that says both and what to do.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from sandbox.catalog.dense.embedder import ModelSpec, cache_key_for
from sandbox.catalog.dense.encoders import EncoderBackend
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
    backend: EncoderBackend = EncoderBackend.torch
    backend_fingerprint: str | None = None
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
        return cache_key_for(self.model, self.backend, self.backend_fingerprint)

    def describe_backend(self) -> str:
        fp = f" (artifact {self.backend_fingerprint})" if self.backend_fingerprint else ""
        return f"backend {self.backend.value!r}{fp}"


def cache_model_key(spec: ModelSpec) -> str:
    """The model part of torch embedding-cache keys: id plus fingerprint, so a retrained model never hits."""
    return cache_key_for(spec, EncoderBackend.torch, None)


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


def check_backend(
    snapshot: Snapshot,
    recorded: DenseManifest,
    backend: EncoderBackend,
    fingerprint: str | None,
    *,
    explicit: bool,
) -> None:
    """Refuse query vectors from another backend than the index's, unless asked for one of the same family.

    torch, onnx and onnx-int8 of one model embed into the same space, so a cheaper query backend may be chosen
    explicitly (``DenseSearchConfig.query_backend``); static vectors live in another space and never mix.
    Same backend: the artifact fingerprint must match the recorded one.
    """
    asked = f"backend {backend.value!r}" + (f" (artifact {fingerprint})" if fingerprint else "")
    if backend is recorded.backend:
        if recorded.backend_fingerprint is None or fingerprint == recorded.backend_fingerprint:
            return
        problem = "the same backend with a different derived encoder"
    elif explicit and backend.family == recorded.backend.family:
        return
    elif backend.family != recorded.backend.family:
        problem = "another vector space"
    else:
        problem = "another backend (name it as query_backend to query across backends of one model)"
    raise DenseModelMismatchError(
        f"dense backend mismatch for snapshot {snapshot.dir} ({snapshot.snapshot_id}): its vectors were built "
        f"with {recorded.describe_backend()} of {recorded.model.describe()} ({recorded.dimension} dimensions), "
        f"but queries would use {asked}: {problem}. Open it with the backend it was built with, or rebuild "
        f"the dense index (`prgym catalog build --dense --dense-backend {backend.value}`)."
    )


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
