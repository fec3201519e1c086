"""The choices ``benchmarks/retrieval_quality.py --backends`` makes: parsing, fusion and config choice, targets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from sandbox.catalog.dense import DenseConfig, DenseSearchConfig
from sandbox.catalog.dense.encoders import EncoderBackend

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "retrieval_backends.py"
_SPEC = importlib.util.spec_from_file_location("retrieval_backends", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
rb = importlib.util.module_from_spec(_SPEC)
sys.modules["retrieval_backends"] = rb
_SPEC.loader.exec_module(rb)


def test_parse_puts_the_baseline_and_the_default_first_and_drops_duplicates() -> None:
    setups = rb.parse_setups("onnx-int8, onnx/onnx-int8,mpnet:onnx-int8,torch,onnx-int8")
    labels = [s.label for s in setups]
    assert labels[0] == "torch"
    assert rb.default_setup().label in labels[:2]
    assert labels.count("onnx-int8") == 1 and labels.count("torch") == 1
    assert {"onnx/onnx-int8", "mpnet:onnx-int8"} <= set(labels)
    split = next(s for s in setups if s.label == "onnx/onnx-int8")
    assert (split.model, split.index, split.query) == (
        "minilm",
        EncoderBackend.onnx,
        EncoderBackend.onnx_int8,
    )
    mpnet = next(s for s in setups if s.model == "mpnet")
    assert mpnet.model_arg == "mpnet" and mpnet.tag == "mpnet-onnx-int8"
    tuned = rb.parse_setup("minilm-hd:onnx-int8")
    assert tuned.model_arg == rb.FINETUNED and tuned.label == "minilm-hd:onnx-int8"
    assert tuned.tag == "minilm-hd-onnx-int8" and not tuned.is_baseline_index


def test_catalog_side_decides_the_directory_not_the_query_side() -> None:
    torch_int8 = rb.EncoderSetup("minilm", EncoderBackend.torch, EncoderBackend.onnx_int8)
    assert torch_int8.tag == "" and torch_int8.is_baseline_index and not torch_int8.is_baseline
    onnx_int8 = rb.EncoderSetup("minilm", EncoderBackend.onnx, EncoderBackend.onnx_int8)
    assert onnx_int8.tag == rb.EncoderSetup("minilm", EncoderBackend.onnx, EncoderBackend.onnx).tag


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("bert:onnx", "model 'bert'"),
        ("onnx-int4", "expected one of"),
        ("onnx/static", "different vector spaces"),
        ("static/torch", "different vector spaces"),
    ],
)
def test_parse_refuses_bad_items_naming_them(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="--backends") as info:
        rb.parse_setups(text)
    assert says in str(info.value) and repr(text) in str(info.value)


def test_default_setup_follows_the_configs() -> None:
    setup = rb.default_setup()
    assert setup.index is DenseConfig().backend
    assert setup.query is (DenseSearchConfig().query_backend or DenseConfig().backend)


def test_fusion_is_chosen_on_the_tuning_half_only() -> None:
    rows = [
        rb.FusionChoice("w=0.3", 0.40, 0.70, 0.60, 0.80),  # best held-out: must not win
        rb.FusionChoice("w=0.5", 0.45, 0.70, 0.48, 0.72),
        rb.FusionChoice("w=0.6", 0.45, 0.71, 0.47, 0.72),  # ties on R@10, wins on R@50
        rb.FusionChoice("w=0.7", 0.45, 0.71, 0.49, 0.72),  # identical tuning figures: the earlier row wins
    ]
    assert rb.choose_fusion(rows).name == "w=0.6"
    with pytest.raises(ValueError):
        rb.choose_fusion([])


def test_best_setup_compares_tuning_recall_across_configs() -> None:
    chosen = {
        "torch": rb.FusionChoice("w=0.5", 0.47, 0.72, 0.49, 0.73),
        "mpnet:onnx-int8": rb.FusionChoice("w=0.6", 0.50, 0.74, 0.51, 0.75),
        "static": rb.FusionChoice("w=0.3", 0.44, 0.70, 0.55, 0.70),
    }
    assert rb.best_setup(chosen) == ("mpnet:onnx-int8", chosen["mpnet:onnx-int8"])


def test_targets_use_the_issue_bounds() -> None:
    figures = {
        "hybrid_p50_ms": 7.0,
        "hybrid_p50_ms_torch": 14.0,
        "encode_per_s": 600.0,
        "encode_per_s_torch": 220.0,
        "hybrid_recall_at_10": 0.4829,
        "hybrid_recall_at_10_torch": 0.488,
        "best_hybrid_recall_at_10": 0.499,
    }
    met = {t.name: t.met for t in rb.targets(figures)}
    assert list(met.values()) == [True, False, False, False]
    figures.update(encode_per_s=660.0, hybrid_recall_at_10=0.4831, best_hybrid_recall_at_10=0.5)
    assert all(t.met for t in rb.targets(figures))
    figures["hybrid_p50_ms"] = 7.01
    assert not rb.targets(figures)[0].met


def test_a_target_configuration_comes_right_after_the_baseline() -> None:
    target = rb.parse_setup("torch/onnx-int8")
    labels = [s.label for s in rb.parse_setups("static,torch/onnx-int8", target)]
    assert labels == ["torch", "torch/onnx-int8", "static"]
