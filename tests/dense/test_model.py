"""Model identity: a snapshot refuses a different model clearly; the default model loads offline; extras missing."""

from __future__ import annotations

import shutil
import sys

import pytest

from sandbox.catalog.dense import (
    DEFAULT_MODEL,
    DenseDependencyError,
    DenseIndexMissingError,
    DenseModelMismatchError,
    Embedder,
    HybridBackend,
    ModelSpec,
    open_backend,
    open_hybrid_backend,
    resolve_model,
)
from sandbox.catalog.dense.embedder import default_model_path
from sandbox.catalog.lexical import TantivyBackend
from sandbox.catalog.search import SearchMode, SearchRequest


def test_snapshot_records_model_dimension_and_index(dense_snapshot) -> None:
    backend = HybridBackend(dense_snapshot)  # model=None: the recorded model, found again and verified
    recorded = backend.dense_manifest
    assert recorded.model.model_id == DEFAULT_MODEL and recorded.model.fingerprint
    assert recorded.dimension == 384 and recorded.dtype == "float32"
    assert recorded.index.kind.value == "flat" and recorded.index.exact
    assert recorded.text_format


def test_a_different_model_is_refused_with_both_names(dense_snapshot, tmp_path) -> None:
    # A real, different model directory: the default model with one changed file (as a fine-tune would be).
    other = tmp_path / "my-finetuned-minilm"
    shutil.copytree(default_model_path(), other)
    config = other / "config_sentence_transformers.json"
    config.write_text(
        config.read_text(encoding="utf-8").replace("{", '{"note": "fine-tuned",', 1), encoding="utf-8"
    )
    with pytest.raises(DenseModelMismatchError) as caught:
        HybridBackend(dense_snapshot, model=str(other))
    message = str(caught.value)
    assert DEFAULT_MODEL in message and "local:my-finetuned-minilm" in message
    assert "rebuild" in message
    # A model only known by a hub id is refused by name, before anything is loaded or downloaded.
    with pytest.raises(DenseModelMismatchError, match="paraphrase-MiniLM-L3-v2"):
        open_backend(dense_snapshot, model="sentence-transformers/paraphrase-MiniLM-L3-v2")


def test_the_same_model_from_another_directory_is_accepted(dense_snapshot, tmp_path) -> None:
    copy = tmp_path / "minilm-copy"
    shutil.copytree(default_model_path(), copy)
    spec = resolve_model(str(copy))
    assert spec.model_id == "local:minilm-copy" and spec.same_model(resolve_model(DEFAULT_MODEL))
    backend = HybridBackend(dense_snapshot, model=spec)  # identical files: accepted whatever the directory
    assert backend.embedder.spec.path == str(copy.resolve())


def test_snapshot_without_dense_index(small_snapshot) -> None:
    backend = open_backend(small_snapshot)
    assert not backend.has_dense
    lexical = backend.search(SearchRequest(query="laptop"))
    assert lexical == TantivyBackend(small_snapshot).search(SearchRequest(query="laptop"))
    with pytest.raises(DenseIndexMissingError, match="catalog build --dense"):
        backend.search(SearchRequest(query="laptop", mode=SearchMode.hybrid))
    with pytest.raises(DenseIndexMissingError):
        open_backend(small_snapshot, model=DEFAULT_MODEL)
    with pytest.raises(DenseIndexMissingError):
        open_hybrid_backend(small_snapshot)


def test_missing_extra_names_the_install_command(monkeypatch) -> None:
    monkeypatch.setitem(
        sys.modules, "sentence_transformers", None
    )  # as if the dense extra were not installed
    embedder = Embedder(ModelSpec(model_id=DEFAULT_MODEL))
    with pytest.raises(DenseDependencyError, match=r"prgym\[dense\]"):
        embedder.encode_query("anything")


def test_empty_model_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="dense model"):
        resolve_model("  ")
