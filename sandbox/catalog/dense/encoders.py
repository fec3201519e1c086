"""Encoder backends behind :class:`~sandbox.catalog.dense.embedder.Embedder`: torch, ONNX (fp32 / int8), static.

The torch backend runs the sentence-transformers model as is. The others are *derived* from that model once, on
this machine, and cached in the encoder home (``$PRGYM_ENCODER_DIR``, else ``<prgym cache>/encoders``) under the
source model's fingerprint, so a second process (or a second build) only loads them:

- ``onnx``: the transformer plus its mean pooling exported to ONNX (``torch.onnx.export``) and run by
  onnxruntime, tokenized by the model's own ``tokenizer.json``; vectors agree with torch to ~1e-6.
- ``onnx-int8``: the same graph with dynamically int8-quantized weights (onnxruntime's ``quantize_dynamic``):
  ~2x faster and 4x smaller, vectors close to but not equal to torch's.
- ``static``: a model2vec static model distilled from the source model (each vocabulary token embedded by the
  transformer, PCA to 256 dimensions, SIF weighting by Zipf rank): a text is the mean of its tokens' vectors, so
  encoding costs microseconds, but it is another vector space.

Each backend has a fingerprint (the artifact's files), which the snapshot manifest records beside the backend
name; a snapshot built with a derived backend carries a copy of its encoder (``dense/encoder/``), so it is queried
with exactly that encoder on any machine with the model installed. ``onnx`` and ``onnx-int8`` (the default) need
onnxruntime and onnx (in the ``dense`` extra), ``static`` needs model2vec (the ``dense-fast`` extra).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sandbox.errors import UserError

ENCODER_DIR_ENV = "PRGYM_ENCODER_DIR"
STATIC_PCA_DIMS = 256
STATIC_SIF = 1e-4


class EncoderBackend(str, Enum):
    """Which runtime turns texts into vectors (all derived from one sentence-transformers model)."""

    torch = "torch"
    onnx = "onnx"
    onnx_int8 = "onnx-int8"
    static = "static"

    @property
    def family(self) -> str:
        """Backends of one family make vectors in the same space (comparable); ``static`` is its own space."""
        return "static" if self is EncoderBackend.static else "transformer"


class EncoderBackendError(UserError, RuntimeError):
    """An encoder backend cannot be prepared or loaded here."""


def parse_backend(value: str | EncoderBackend) -> EncoderBackend:
    try:
        return EncoderBackend(value)
    except ValueError:
        valid = ", ".join(b.value for b in EncoderBackend)
        raise EncoderBackendError(f"dense backend: expected one of {valid}, got {value!r}") from None


def install_hint(backend: EncoderBackend | str) -> str:
    """The extra that holds ``backend``'s packages."""
    extra = "dense-fast" if parse_backend(backend) is EncoderBackend.static else "dense"
    return f'pip install "prgym[{extra}]"'


def backend_available(backend: EncoderBackend | str) -> bool:
    """Whether the packages ``backend`` needs are installed (without importing them)."""
    import importlib.util

    backend = parse_backend(backend)
    needs = {
        EncoderBackend.torch: ["torch", "sentence_transformers"],
        EncoderBackend.onnx: ["onnxruntime", "tokenizers"],
        EncoderBackend.onnx_int8: ["onnxruntime", "onnx", "tokenizers"],
        EncoderBackend.static: ["model2vec"],
    }[backend]
    return all(importlib.util.find_spec(n) is not None for n in needs)


def encoder_home() -> Path:
    """Where derived encoders are cached: ``$PRGYM_ENCODER_DIR``, else ``<PRGYM_CACHE_DIR or user cache>/encoders``."""
    env = os.environ.get(ENCODER_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("PRGYM_CACHE_DIR", "").strip()
    if base:
        return Path(base).expanduser() / "encoders"
    import platformdirs

    return platformdirs.user_cache_path("prgym", appauthor=False) / "encoders"


def files_fingerprint(path: Path) -> str:
    """SHA-256 over a directory's files (names and contents), 16 hex digits."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != "source.json"):
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


class Encoder(Protocol):
    """What the embedder needs from a backend: batches and single queries, as unnormalized float32 rows."""

    dimension: int

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_batches(self, batches: Sequence[Sequence[str]]) -> list[np.ndarray]: ...

    def encode_one(self, text: str) -> np.ndarray: ...


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One process derives an artifact; the others wait and then load it."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def quiet_model_loading() -> Iterator[None]:
    """No transformers "Loading weights" bar while the model loads (it landed in the middle of search output).

    The setting is process-wide, so it is restored afterwards for the caller's own transformers use.
    """
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # sentence-transformers without transformers cannot load anything anyway
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _quiet_derivation() -> Iterator[None]:
    """No tracer warnings, weight-loading bars or quantizer advice while an encoder is derived.

    Deriving is what a default dense build does first on a new machine, and the noise drowned the build's own
    progress bar. The tracer's warnings concern Python branches on tensor shapes; the exported graph's vectors
    are checked against torch's over texts of many lengths (``tests/dense/test_backends.py``).
    """
    import logging
    import warnings

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with quiet_model_loading(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def artifact_dir(model_fingerprint: str, backend: EncoderBackend) -> Path:
    return encoder_home() / model_fingerprint / backend.value


def prepare_artifact(model_path: Path, model_fingerprint: str, backend: EncoderBackend) -> tuple[Path, str]:
    """The cached artifact of ``backend`` for the model at ``model_path`` (derived now if missing) and its fingerprint."""
    if backend is EncoderBackend.torch:
        raise ValueError("the torch backend has no derived artifact")
    if not backend_available(backend):
        raise EncoderBackendError(
            f"dense backend {backend.value!r} needs packages that are not installed; {install_hint(backend)}"
        )
    target = artifact_dir(model_fingerprint, backend)
    with _locked(target.parent):
        if not (target / "source.json").is_file():
            staging = target.with_name(target.name + ".building")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            with _quiet_derivation():
                if backend is EncoderBackend.static:
                    _distill_static(model_path, staging)
                else:
                    _export_onnx(model_path, staging, quantize=backend is EncoderBackend.onnx_int8)
            fingerprint = files_fingerprint(staging)
            record = {
                "source_fingerprint": model_fingerprint,
                "backend": backend.value,
                "fingerprint": fingerprint,
            }
            (staging / "source.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)
            staging.replace(target)
    record = json.loads((target / "source.json").read_text(encoding="utf-8"))
    return target, str(record["fingerprint"])


#: The folder of a snapshot's ``dense/`` that carries a copy of the derived encoder its vectors were made with.
CARRIED_ENCODER_DIRNAME = "encoder"


def carry_artifact(artifact: Path, dense_dir: Path) -> None:
    """Copy a derived encoder into a snapshot's dense folder, so the snapshot is queried with that very encoder.

    A re-export on another machine (other torch / onnx / onnxruntime versions) need not give identical files,
    and the fingerprint check would then refuse the snapshot; the copy travels with the vectors instead.
    """
    shutil.copytree(artifact, dense_dir / CARRIED_ENCODER_DIRNAME, ignore=shutil.ignore_patterns(".lock"))


def carried_artifact(dense_dir: Path, fingerprint: str | None) -> tuple[Path, str] | None:
    """The encoder a snapshot carries, if it is the one recorded in its manifest (else ``None``)."""
    directory = dense_dir / CARRIED_ENCODER_DIRNAME
    try:
        record = json.loads((directory / "source.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if fingerprint is None or record.get("fingerprint") != fingerprint:
        return None
    return directory, fingerprint


def _sentence_transformer(model_path: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_path), device="cpu", local_files_only=True)


def _pooling_mode(model: Any) -> str:
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None:  # sentence-transformers < 5
        mode = "mean" if getattr(pooling, "pooling_mode_mean_tokens", False) else "cls"
    mode = str(mode).replace("pooling_mode_", "").replace("_tokens", "").replace("_token", "")
    if mode not in {"mean", "cls"}:
        raise EncoderBackendError(
            f"dense backend onnx/static: pooling {mode!r} is not supported (mean or cls)"
        )
    return mode


def _export_onnx(model_path: Path, out: Path, *, quantize: bool) -> None:
    """Export transformer + pooling to ``model.onnx`` (+ the tokenizer); int8: quantize the weights after."""
    import torch

    model = _sentence_transformer(model_path)
    transformer = model[0]
    mode = _pooling_mode(model)
    hf = transformer.auto_model.eval()
    takes_types = "token_type_ids" in hf.forward.__code__.co_varnames

    class _Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hf = hf

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            extra = {"token_type_ids": token_type_ids} if takes_types else {}
            hidden = self.hf(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
            if mode == "cls":
                return hidden[:, 0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if takes_types else [])
    dummy = torch.ones((2, 8), dtype=torch.long)
    fp32 = out / ("model-fp32.onnx" if quantize else "model.onnx")
    with torch.inference_mode():
        torch.onnx.export(
            _Pooled().eval(),
            tuple(dummy if n != "token_type_ids" else torch.zeros_like(dummy) for n in names),
            str(fp32),
            dynamo=False,
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names} | {"sentence_embedding": {0: "batch"}},
            opset_version=17,
        )
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True)
        fp32.unlink()
    shutil.copy2(model_path / "tokenizer.json", out / "tokenizer.json")
    config = {"max_length": int(transformer.max_seq_length), "inputs": names, "pooling": mode}
    (out / "encoder.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _distill_static(model_path: Path, out: Path) -> None:
    """model2vec's recipe, run locally: every vocabulary token through the transformer, PCA, SIF weights."""
    import torch
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    model = _sentence_transformer(model_path)
    hf = model[0].auto_model.eval()
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    cls_id = (
        tokenizer.token_to_id("[CLS]")
        if tokenizer.token_to_id("[CLS]") is not None
        else tokenizer.token_to_id("<s>")
    )
    sep_id = (
        tokenizer.token_to_id("[SEP]")
        if tokenizer.token_to_id("[SEP]") is not None
        else tokenizer.token_to_id("</s>")
    )
    ids = torch.tensor([[cls_id, tid, sep_id] for _, tid in vocab], dtype=torch.long)
    rows = []
    with torch.inference_mode():
        for start in range(0, len(ids), 1024):
            batch = ids[start : start + 1024]
            hidden = hf(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
            rows.append(hidden.mean(1).float().numpy())
    vectors = np.nan_to_num(np.concatenate(rows).astype(np.float64))
    # PCA (deterministic SVD) to STATIC_PCA_DIMS, then SIF weights from the token's rank (Zipf).
    centered = vectors - vectors.mean(0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    dims = min(STATIC_PCA_DIMS, vt.shape[0])
    projected = centered @ vt[:dims].T
    inv_rank = 1 / np.arange(2, len(projected) + 2)
    proba = inv_rank / inv_rank.sum()
    projected *= (STATIC_SIF / (STATIC_SIF + proba))[:, None]
    tokenizer.no_padding()
    tokenizer.no_truncation()
    static = StaticModel(
        vectors=projected.astype(np.float32), tokenizer=tokenizer, normalize=True, max_length=512
    )
    static.save_pretrained(str(out))


MAX_BUILD_SESSIONS = 8


class OnnxEncoder:
    """onnxruntime over an exported artifact: single-threaded build sessions (one per core), one query session.

    Builds run one single-threaded session per build thread, each on its own batches, rather than one session
    with several intra-op threads: intra-op threads meet at a barrier after every operator, so on a shared
    machine one descheduled thread stalls them all (the torch path's OpenMP suffers the same), while independent
    sessions only lose the core that was taken. Past ``MAX_BUILD_SESSIONS`` the threads are split between them.
    """

    def __init__(self, directory: Path, *, build_threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = json.loads((directory / "encoder.json").read_text(encoding="utf-8"))
        self._inputs: list[str] = list(config["inputs"])
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(config["max_length"]))
        self._tokenizer.enable_padding(
            pad_id=self._tokenizer.padding["pad_id"] if self._tokenizer.padding else 0
        )
        self._ort = ort
        self._path = str(directory / "model.onnx")
        self.build_threads = max(1, build_threads or os.cpu_count() or 1)
        self._query = self._session(1)
        self._builders: list[Any] | None = None
        self._lock = threading.Lock()
        self.dimension = int(self._query.get_outputs()[0].shape[-1] or self.encode_one("x").shape[0])

    def _session(self, threads: int) -> Any:
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return self._ort.InferenceSession(self._path, options, providers=["CPUExecutionProvider"])

    def _build_sessions(self) -> list[Any]:
        if self._builders is None:
            with self._lock:
                if self._builders is None:
                    count = min(self.build_threads, MAX_BUILD_SESSIONS)
                    threads = self.build_threads // count
                    self._builders = [self._session(threads) for _ in range(count)]
        return self._builders

    def _feeds(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encodings = self._tokenizer.encode_batch(list(texts))
        fields = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
        return {
            n: np.asarray([getattr(e, fields[n]) for e in encodings], dtype=np.int64) for n in self._inputs
        }

    def _run(self, session: Any, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(session.run(None, self._feeds(texts))[0], dtype=np.float32)

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_batches([texts])[0]

    def encode_batches(self, batches: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Every batch's vectors, in order; batch ``i`` runs on build session ``i mod sessions``."""
        sessions = self._build_sessions()
        if len(sessions) == 1 or len(batches) == 1:
            return [self._run(sessions[0], batch) for batch in batches]
        from concurrent.futures import ThreadPoolExecutor

        def worker(k: int) -> list[np.ndarray]:  # onnxruntime and tokenizers release the GIL
            return [self._run(sessions[k], batch) for batch in batches[k :: len(sessions)]]

        with ThreadPoolExecutor(len(sessions), thread_name_prefix="prgym-onnx") as pool:
            strided = list(pool.map(worker, range(len(sessions))))
        return [strided[i % len(sessions)][i // len(sessions)] for i in range(len(batches))]

    def encode_one(self, text: str) -> np.ndarray:
        return self._run(self._query, [text])[0]


class StaticEncoder:
    """A model2vec static model: mean of token vectors (no transformer at all)."""

    def __init__(self, directory: Path) -> None:
        from model2vec import StaticModel

        self._model = StaticModel.from_pretrained(str(directory))
        self.dimension = int(self._model.dim)

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.encode(list(texts), show_progress_bar=False), dtype=np.float32)

    def encode_batches(self, batches: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [self.encode_batch(batch) for batch in batches]

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode_batch([text])[0]


def load_encoder(directory: Path, backend: EncoderBackend, *, build_threads: int | None = None) -> Encoder:
    if backend is EncoderBackend.static:
        return StaticEncoder(directory)
    return OnnxEncoder(directory, build_threads=build_threads)
