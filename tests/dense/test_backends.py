"""Encoder backends: ONNX / int8 / static vectors against torch's, the backend recorded and checked, query cache.

Needs the dense-fast extra (onnxruntime, onnx, model2vec); without it every test here skips saying so. The
derived encoders are exported / distilled once per session into a temporary encoder home.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason='dense-fast extra not installed (pip install "prgym[dense-fast]")')
pytest.importorskip("onnx", reason='dense-fast extra not installed (pip install "prgym[dense-fast]")')

from sandbox.catalog.dense import (  # noqa: E402
    DenseConfig,
    DenseModelMismatchError,
    DenseSearchConfig,
    Embedder,
    HybridBackend,
    build_dense_index,
    product_text,
    read_dense_manifest,
)
from sandbox.catalog.dense import build as dense_build  # noqa: E402
from sandbox.catalog.dense.embedding_cache import EmbeddingCache  # noqa: E402
from sandbox.catalog.search import SearchMode, SearchRequest  # noqa: E402
from sandbox.catalog.snapshot import Snapshot  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def encoder_home(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PRGYM_ENCODER_DIR", str(tmp_path_factory.mktemp("encoders")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def texts(sample_products) -> list[str]:
    return [product_text(p) for p in sample_products]


@pytest.fixture(scope="module")
def torch_vectors(embedder, texts) -> np.ndarray:
    return embedder.encode(texts)


@pytest.fixture(scope="module")
def onnx_embedder(embedder) -> Embedder:
    return Embedder(embedder.spec, backend="onnx")


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_onnx_fp32_vectors_agree_with_torch(onnx_embedder, torch_vectors, texts) -> None:
    vectors = onnx_embedder.encode(texts)
    cos = _cosines(vectors, torch_vectors)
    print(f"onnx fp32 vs torch: min cosine {cos.min():.6f}, mean {cos.mean():.6f} over {len(texts)} texts")
    assert cos.min() >= 0.99
    query = "cordless drill with two batteries"
    assert float(onnx_embedder.encode_query(query) @ Embedder(onnx_embedder.spec).encode_query(query)) >= 0.99


def test_parallel_build_sessions_keep_order_and_vectors(onnx_embedder, texts) -> None:
    """Batches spread over one session per build thread come back in order, equal to one session's vectors."""
    encoder = onnx_embedder._prepare()
    batches = [texts[i : i + 7] for i in range(0, len(texts), 7)]
    serial = Embedder(onnx_embedder.spec, backend="onnx", build_threads=1)._prepare()
    assert len(serial._build_sessions()) == 1
    parallel = type(encoder)(onnx_embedder._artifact()[0], build_threads=3)
    assert len(parallel._build_sessions()) == 3
    got = parallel.encode_batches(batches)
    want = serial.encode_batches(batches)
    assert [len(b) for b in got] == [len(b) for b in batches]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(parallel.encode_batch(texts[:5]), want[0][:5], rtol=1e-5, atol=1e-6)


def test_int8_and_static_agreement_is_reported(embedder, torch_vectors, texts, record_property) -> None:
    int8 = Embedder(embedder.spec, backend="onnx-int8").encode(texts)
    cos = _cosines(int8, torch_vectors)
    record_property("int8_cosine_mean", float(cos.mean()))
    print(f"onnx int8 vs torch: min cosine {cos.min():.4f}, mean {cos.mean():.4f}")
    assert cos.mean() >= 0.95  # quantized: close, not equal

    static_embedder = Embedder(embedder.spec, backend="static")
    static = static_embedder.encode(texts)
    assert static.shape == (len(texts), 256)  # PCA-reduced: another space, so compare similarity structure
    assert np.allclose(np.linalg.norm(static, axis=1), 1, atol=1e-5)
    upper = np.triu_indices(len(texts), 1)
    corr = float(np.corrcoef((static @ static.T)[upper], (torch_vectors @ torch_vectors.T)[upper])[0, 1])
    record_property("static_similarity_correlation", corr)
    print(f"static vs torch: correlation of pairwise cosines {corr:.4f}")
    assert corr >= 0.3
    again = Embedder(embedder.spec, backend="static")  # distilled once, then only loaded
    assert again.backend_fingerprint == static_embedder.backend_fingerprint


@pytest.fixture(scope="module")
def onnx_snapshot(sample_products, catalog_writer, onnx_embedder, tmp_path_factory) -> Path:
    directory = catalog_writer(sample_products, tmp_path_factory.mktemp("onnx") / "catalog")
    build_dense_index(directory, DenseConfig(backend="onnx"), progress=False, embedder=onnx_embedder)
    return directory


def test_manifest_records_backend_and_fingerprint(onnx_snapshot, onnx_embedder) -> None:
    manifest = read_dense_manifest(Snapshot(onnx_snapshot))
    assert manifest.backend.value == "onnx"
    assert manifest.backend_fingerprint == onnx_embedder.backend_fingerprint is not None
    backend = HybridBackend(onnx_snapshot)  # the recorded backend is what queries use
    assert backend.embedder.backend.value == "onnx"
    assert backend.search(SearchRequest(query="usb charger", mode=SearchMode.dense)).hits


def test_backend_mismatch_is_refused(onnx_snapshot) -> None:
    with pytest.raises(DenseModelMismatchError) as excinfo:
        HybridBackend(onnx_snapshot, search_config=DenseSearchConfig(query_backend="static"))
    message = str(excinfo.value)
    assert "'onnx'" in message and "'static'" in message and "another vector space" in message
    # Same family, asked for explicitly: allowed (torch queries an onnx index: same model, same space).
    torch_side = HybridBackend(onnx_snapshot, search_config=DenseSearchConfig(query_backend="torch"))
    assert torch_side.embedder.backend.value == "torch"


def test_other_derived_encoder_is_refused(onnx_snapshot, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(onnx_snapshot, copy)
    snapshot = Snapshot(copy)
    dense = dict(snapshot.manifest.extras["dense"])
    recorded = dense["backend_fingerprint"]
    dense["backend_fingerprint"] = "0123456789abcdef"  # as if built with another export of the model
    snapshot.update_extras("dense", dense, files_under="dense")
    with pytest.raises(DenseModelMismatchError) as excinfo:
        HybridBackend(copy)
    assert "0123456789abcdef" in str(excinfo.value) and recorded in str(excinfo.value)


def test_snapshot_carries_its_encoder(onnx_snapshot, tmp_path, monkeypatch) -> None:
    """A derived-backend snapshot is queried with the encoder copied into it, never a re-export here."""
    import shutil

    from sandbox.catalog.dense import embedder as embedder_module

    carried = onnx_snapshot / "dense" / "encoder"
    assert (carried / "model.onnx").is_file()
    recorded = read_dense_manifest(Snapshot(onnx_snapshot)).backend_fingerprint
    assert json.loads((carried / "source.json").read_text())["fingerprint"] == recorded
    copy = tmp_path / "elsewhere"
    shutil.copytree(onnx_snapshot, copy)
    monkeypatch.setenv("PRGYM_ENCODER_DIR", str(tmp_path / "empty-encoder-home"))  # another machine

    def no_export(*args, **kwargs):
        raise AssertionError("the snapshot's own encoder should have been used")

    monkeypatch.setattr(embedder_module, "prepare_artifact", no_export)
    moved = HybridBackend(copy)
    assert moved.embedder.artifact_dir == copy / "dense" / "encoder"
    request = SearchRequest(query="stainless steel kitchen sink", mode=SearchMode.dense)
    assert moved.search(request).model_dump() == HybridBackend(onnx_snapshot).search(request).model_dump()
    assert not (tmp_path / "empty-encoder-home").exists()


def test_default_build_is_onnx_int8_and_carries_it(sample_products, catalog_writer, tmp_path) -> None:
    """No config, no embedder: the default backend (onnx-int8) embeds, is recorded, and is what queries use."""
    directory = catalog_writer(sample_products[:60], tmp_path / "catalog")
    manifest = build_dense_index(directory, progress=False)
    assert manifest.backend.value == DenseConfig().backend.value == "onnx-int8"
    backend = HybridBackend(directory)
    assert backend.embedder.backend.value == "onnx-int8"
    assert backend.embedder.artifact_dir == directory / "dense" / "encoder"
    assert backend.search(SearchRequest(query="garden hose", mode=SearchMode.hybrid)).hits


def test_query_cache_returns_identical_results(onnx_snapshot) -> None:
    backend = HybridBackend(onnx_snapshot, search_config=DenseSearchConfig(query_cache_size=8))
    request = SearchRequest(query="stainless steel kitchen sink", mode=SearchMode.hybrid)
    first = backend.search(request)
    calls = []
    encoder = backend.embedder._prepare()
    original = encoder.encode_one
    encoder.encode_one = lambda text: calls.append(text) or original(text)  # type: ignore[method-assign]
    cached = backend.search(request)
    assert calls == []  # served from the cache
    backend.embedder.clear_query_cache()
    fresh = backend.search(request)
    assert calls == [request.query]
    assert first.model_dump() == cached.model_dump() == fresh.model_dump()


def test_interrupted_onnx_build_resumes(
    sample_products, catalog_writer, onnx_embedder, tmp_path, monkeypatch
):
    """Chunks are saved as they are encoded, so even a crash that runs no handler keeps them."""
    monkeypatch.setattr(dense_build, "RESUME_CHUNK", 100)
    directory = catalog_writer(sample_products, tmp_path / "catalog")
    resume = tmp_path / "catalog.dense-partial"
    real = onnx_embedder.encode
    left = [2]

    def dying(texts, *, progress=None):
        if left[0] == 0:
            raise SystemExit("killed")  # nothing after this point runs in the build
        left[0] -= 1
        return real(texts, progress=progress)

    monkeypatch.setattr(onnx_embedder, "encode", dying)
    with pytest.raises(SystemExit):
        build_dense_index(
            directory, DenseConfig(backend="onnx"), progress=False, embedder=onnx_embedder, resume_dir=resume
        )
    parts = sorted(resume.glob("part-*"))
    assert len(parts) == 2 and sum(len(EmbeddingCache.open(p)) for p in parts) == 200
    monkeypatch.setattr(onnx_embedder, "encode", real)
    before = onnx_embedder.texts_encoded
    manifest = build_dense_index(
        directory, DenseConfig(backend="onnx"), progress=False, embedder=onnx_embedder, resume_dir=resume
    )
    distinct = len({product_text(p) for p in sample_products})
    assert manifest.texts_encoded == onnx_embedder.texts_encoded - before == distinct - 200
    assert manifest.backend.value == "onnx" and not resume.exists()


def test_elasticsearch_push_records_the_backend(onnx_snapshot) -> None:
    """An index pushed from a derived-backend snapshot is queried with that backend, not torch."""
    from sandbox.catalog.elasticsearch.indexing import _dense_vectors

    vectors, record = _dense_vectors(Snapshot(onnx_snapshot))
    assert vectors is not None and record["backend"] == "onnx" and record["dimension"] == vectors.shape[1]
