"""Dense and hybrid product retrieval: sentence-transformers embeddings in a FAISS index, fused with BM25.

Importing this package does not import torch or sentence-transformers (the optional ``dense`` extra); they load
with the first model use. Entry points:

- :func:`build_dense_index` (``prgym catalog build --dense``): embed a snapshot's products and index them.
- :func:`open_backend` / :func:`open_hybrid_backend` / :class:`HybridBackend`: a ``CatalogBackend`` answering
  ``lexical``, ``dense`` and ``hybrid`` requests.
"""

from sandbox.catalog.dense.build import build_dense_index
from sandbox.catalog.dense.config import (
    DEFAULT_MODEL,
    DenseConfig,
    DenseSearchConfig,
    FusionMethod,
    IndexKind,
)
from sandbox.catalog.dense.embedder import DenseDependencyError, Embedder, ModelSpec, resolve_model
from sandbox.catalog.dense.hybrid import HybridBackend, open_backend, open_hybrid_backend
from sandbox.catalog.dense.manifest import (
    DenseIndexMissingError,
    DenseManifest,
    DenseModelMismatchError,
    read_dense_manifest,
)
from sandbox.catalog.dense.text import product_text

__all__ = [
    "DEFAULT_MODEL",
    "DenseConfig",
    "DenseDependencyError",
    "DenseIndexMissingError",
    "DenseManifest",
    "DenseModelMismatchError",
    "DenseSearchConfig",
    "Embedder",
    "FusionMethod",
    "HybridBackend",
    "IndexKind",
    "ModelSpec",
    "build_dense_index",
    "open_backend",
    "open_hybrid_backend",
    "product_text",
    "read_dense_manifest",
    "resolve_model",
]
