"""Embedding cache keyed by (model, text): a rebuild encodes only texts it has not seen with that model.

Encoding is the slow step of a dense build (minutes per 100k products on a laptop CPU), while most rebuilds
change few products. Each entry's key is a 64-bit BLAKE2b hash of the model key and the embedded text, so a
different model, or a product whose embedded text changed, simply misses. (At a million entries the chance of any
64-bit collision is about 3e-8.)

On disk a cache is a directory with ``cache.json`` (model key, dimension, dtype, count), ``keys.npy`` (uint64)
and ``vectors.npy`` (float32 or float16). A snapshot's ``dense/`` folder is such a cache whose rows are in product
ordinal order, so the vectors the index was built from double as the cache for the next build: nothing is stored
twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ValidationError

CACHE_META = "cache.json"
KEYS_FILE = "keys.npy"
VECTORS_FILE = "vectors.npy"


class CacheMeta(BaseModel):
    """``cache.json``: which model the vectors come from, and their shape and storage type."""

    model_key: str
    dimension: int
    dtype: str
    count: int


def text_key(model_key: str, text: str) -> int:
    """The 64-bit cache key of ``text`` embedded by the model named ``model_key``."""
    digest = hashlib.blake2b(model_key.encode("utf-8") + b"\x1f" + text.encode("utf-8"), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


def text_keys(model_key: str, texts: Iterable[str]) -> np.ndarray:
    return np.fromiter((text_key(model_key, t) for t in texts), dtype=np.uint64)


class EmbeddingCache:
    """A read-only cache directory, memory-mapped so that a large cache costs no RAM until rows are read."""

    def __init__(self, directory: Path, meta: CacheMeta, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.directory = directory
        self.meta = meta
        self.keys = keys
        self.vectors = vectors
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]

    @classmethod
    def open(cls, directory: Path | str) -> EmbeddingCache | None:
        """The cache in ``directory``, or ``None`` when there is none (or it is unreadable: it is only a cache)."""
        directory = Path(directory)
        meta_path = directory / CACHE_META
        if not meta_path.is_file():
            return None
        try:
            meta = CacheMeta.model_validate_json(meta_path.read_text(encoding="utf-8"))
            keys = np.load(directory / KEYS_FILE, mmap_mode="r")
            vectors = np.load(directory / VECTORS_FILE, mmap_mode="r")
        except (OSError, ValueError, ValidationError):
            return None
        if keys.shape != (meta.count,) or vectors.shape != (meta.count, meta.dimension):
            return None
        return cls(directory, meta, np.asarray(keys), vectors)

    def __len__(self) -> int:
        return self.meta.count

    def usable_for(self, model_key: str, dimension: int | None, dtype: str) -> bool:
        """Same model (and dimension); float16 vectors are never widened into a float32 build (precision lost)."""
        if self.meta.model_key != model_key:
            return False
        if dimension is not None and self.meta.dimension != dimension:
            return False
        return not (self.meta.dtype == "float16" and dtype == "float32")

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """For each key, the row holding its vector, or -1 when the cache does not have it."""
        if len(self._sorted) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        pos = np.searchsorted(self._sorted, keys)
        pos_clipped = np.minimum(pos, len(self._sorted) - 1)
        found = self._sorted[pos_clipped] == keys
        return np.where(found, self._order[pos_clipped], -1).astype(np.int64)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Vectors at ``rows`` (in that order), as float32."""
        index = np.asarray(rows, dtype=np.int64)
        order = np.argsort(index, kind="stable")  # read the memory map front to back
        out = np.empty((len(index), self.meta.dimension), dtype=np.float32)
        out[order] = self.vectors[index[order]]
        return out


def write_cache(
    directory: Path, model_key: str, keys: np.ndarray, vectors: np.ndarray, dtype: str
) -> CacheMeta:
    """Write a cache directory (keys and vectors row-aligned); files are replaced atomically one by one."""
    if keys.shape[0] != vectors.shape[0]:
        raise ValueError(f"cache: {keys.shape[0]} keys but {vectors.shape[0]} vectors")
    directory.mkdir(parents=True, exist_ok=True)
    meta = CacheMeta(
        model_key=model_key, dimension=int(vectors.shape[1]), dtype=dtype, count=int(keys.shape[0])
    )
    _save_npy(directory / KEYS_FILE, np.ascontiguousarray(keys, dtype=np.uint64))
    _save_npy(directory / VECTORS_FILE, np.ascontiguousarray(vectors, dtype=np.dtype(dtype)))
    tmp = directory / (CACHE_META + ".tmp")
    tmp.write_text(json.dumps(meta.model_dump(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(directory / CACHE_META)
    return meta


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)
    tmp.replace(path)


def open_caches(directories: Sequence[Path | str]) -> list[EmbeddingCache]:
    """Every readable cache among ``directories`` (missing ones are skipped)."""
    return [c for c in (EmbeddingCache.open(d) for d in directories) if c is not None]
