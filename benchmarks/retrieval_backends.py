"""Encoder configurations compared by ``retrieval_quality.py --backends``, and the choices made from them.

A configuration is ``[model:]index_backend[/query_backend]``: the model (``minilm``, the default, ``mpnet``, or
``minilm-hd``: MiniLM fine-tuned by the run on the tuning half of the labels, never on the held-out half),
the backend that embeds the catalog, and optionally a cheaper backend of the same family for the queries (torch,
onnx and onnx-int8 of one model share a vector space; static does not). ``torch`` alone is today's path, the
baseline every other figure is compared with, so it is always measured.

The choices here are kept out of the measuring script so they can be tested: parsing, which configuration is
"best" (chosen on the tuning half of the queries, never on the held-out half it is reported on), and the
issue's targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.catalog.dense import DenseConfig, DenseSearchConfig
from sandbox.catalog.dense.config import DEFAULT_MODEL
from sandbox.catalog.dense.encoders import EncoderBackend, EncoderBackendError, parse_backend
from sandbox.catalog.dense.registry_models import MPNET_ALIASES, MPNET_MODEL

#: ``minilm-hd``: MiniLM fine-tuned on the tuning half of the labels (``finetune_encoder.py``), trained by the run.
FINETUNED = "finetuned-on-the-tuning-half"
MODELS = {
    "minilm": "default",
    "mpnet": "mpnet",
    "minilm-hd": FINETUNED,
}  # name -> Embedder.from_model argument
DEFAULT_BACKENDS = (
    "torch,onnx,onnx-int8,static,torch/onnx-int8,onnx/onnx-int8,mpnet:onnx-int8,minilm-hd:onnx-int8"
)
QUICK_BACKENDS = "torch,onnx,onnx-int8,static,onnx/onnx-int8"


@dataclass(frozen=True)
class EncoderSetup:
    """One measured configuration: which model, which backend embeds the catalog, which one the queries."""

    model: str
    index: EncoderBackend
    query: EncoderBackend

    @property
    def label(self) -> str:
        name = self.index.value if self.query is self.index else f"{self.index.value}/{self.query.value}"
        return name if self.model == "minilm" else f"{self.model}:{name}"

    @property
    def model_arg(self) -> str:
        return MODELS[self.model]

    @property
    def tag(self) -> str:
        """Directory tag of the catalog side (queries do not change what is built); torch MiniLM keeps ``""``."""
        return "" if self.is_baseline_index else f"{self.model}-{self.index.value}"

    @property
    def is_baseline_index(self) -> bool:
        return self.model == "minilm" and self.index is EncoderBackend.torch

    @property
    def is_baseline(self) -> bool:
        return self.is_baseline_index and self.query is EncoderBackend.torch


BASELINE = EncoderSetup("minilm", EncoderBackend.torch, EncoderBackend.torch)


def default_setup() -> EncoderSetup:
    """What prgym builds and queries with when nothing is configured (``DenseConfig`` / ``DenseSearchConfig``)."""
    config, search = DenseConfig(), DenseSearchConfig()
    if config.model == DEFAULT_MODEL:
        model = "minilm"
    elif config.model in MPNET_ALIASES or config.model == MPNET_MODEL:
        model = "mpnet"
    else:
        raise ValueError(f"default dense model {config.model!r} is not one the benchmark knows")
    return EncoderSetup(model, config.backend, search.query_backend or config.backend)


def parse_setup(raw: str) -> EncoderSetup:
    """One ``[model:]index_backend[/query_backend]`` item; ``ValueError`` naming it and what was expected."""
    model, _, backends = raw.strip().rpartition(":")
    model = model or "minilm"
    if model not in MODELS:
        raise ValueError(f"--backends: {raw!r}: model {model!r}, expected one of {', '.join(MODELS)}")
    index_name, _, query_name = backends.partition("/")
    try:
        index = parse_backend(index_name)
        query = parse_backend(query_name) if query_name else index
    except EncoderBackendError as exc:
        raise ValueError(f"--backends: {raw!r}: {exc}") from None
    if index.family != query.family:
        raise ValueError(
            f"--backends: {raw!r}: {index.value} and {query.value} embed into different vector spaces; "
            "a query backend must be of the index backend's family (torch, onnx, onnx-int8)"
        )
    return EncoderSetup(model, index, query)


def parse_setups(text: str, target: EncoderSetup | None = None) -> list[EncoderSetup]:
    """``--backends`` -> configurations: the torch baseline first, then the target configuration (the one the
    targets are checked for; prgym's default when not given), then the rest, duplicates dropped."""
    setups = [BASELINE, target or default_setup()]
    setups += [parse_setup(raw) for raw in text.split(",") if raw.strip()]
    return list(dict.fromkeys(setups))


@dataclass(frozen=True)
class FusionChoice:
    """A fusion setting's recall on the tuning half (what chooses) and on the held-out half (what is reported)."""

    name: str
    tune_r10: float
    tune_r50: float
    held_r10: float
    held_r50: float


def choose_fusion(rows: Sequence[FusionChoice]) -> FusionChoice:
    """The setting with the best tuning-half recall@10 (then @50, then the earlier row): held-out never chooses."""
    if not rows:
        raise ValueError("no fusion settings to choose from")
    return max(enumerate(rows), key=lambda item: (item[1].tune_r10, item[1].tune_r50, -item[0]))[1]


def best_setup(choices: dict[str, FusionChoice]) -> tuple[str, FusionChoice]:
    """Across configurations (label -> its chosen fusion): the best tuning-half recall@10, then @50."""
    if not choices:
        raise ValueError("no configurations measured")
    order = list(choices)
    label = max(order, key=lambda k: (choices[k].tune_r10, choices[k].tune_r50, -order.index(k)))
    return label, choices[label]


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    bound: float
    met: bool


def targets(figures: dict) -> list[Target]:
    """The issue's four targets from the final figures (``--quick`` measures them too, at its small size)."""
    p50, p50_torch = figures["hybrid_p50_ms"], figures["hybrid_p50_ms_torch"]
    rate, rate_torch = figures["encode_per_s"], figures["encode_per_s_torch"]
    r10, r10_torch = figures["hybrid_recall_at_10"], figures["hybrid_recall_at_10_torch"]
    best = figures["best_hybrid_recall_at_10"]
    return [
        Target("hybrid p50 <= 0.5 x torch (ms)", p50, 0.5 * p50_torch, p50 <= 0.5 * p50_torch),
        Target("build encode/s >= 3 x torch", rate, 3 * rate_torch, rate >= 3 * rate_torch),
        Target("hybrid recall@10 >= torch - 0.005", r10, r10_torch - 0.005, r10 >= r10_torch - 0.005),
        Target("best hybrid recall@10 >= 0.50", best, 0.50, best >= 0.50),
    ]
