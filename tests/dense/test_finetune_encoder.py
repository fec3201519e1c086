"""``benchmarks/finetune_encoder.py``: pairs only from the tuning half, a loadable model, reuse of a finished one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from sandbox.catalog.product import Product

_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, _DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


ft = _load("finetune_encoder")


def _product(uid: int, title: str) -> Product:
    return Product(product_id=f"homedepot:{uid}", title=title, source="homedepot")


PRODUCTS = {
    p.product_id: p
    for p in [
        _product(1, "cordless drill 20V with two batteries"),
        _product(2, "stainless steel kitchen sink, undermount"),
        _product(3, "LED ceiling light fixture, brushed nickel"),
        _product(4, "garden hose 50 ft, kink free"),
    ]
}
RELEVANT = {
    "cordless drill": {"homedepot:1"},
    "kitchen sink": {"homedepot:2", "homedepot:9"},  # 9 is not in the catalog: skipped
    "ceiling light": {"homedepot:3"},
    "garden hose": {"homedepot:4"},
}


def test_pairs_come_only_from_admitted_queries_in_a_seeded_order() -> None:
    held_out = {"ceiling light", "garden hose"}
    pairs = ft.training_pairs(PRODUCTS, RELEVANT, lambda q: q not in held_out)
    assert sorted(q for q, _ in pairs) == ["cordless drill", "kitchen sink"]
    assert all(q not in held_out for q, _ in pairs)
    assert dict(pairs)["kitchen sink"].startswith("stainless steel kitchen sink")
    assert pairs == ft.training_pairs(PRODUCTS, RELEVANT, lambda q: q not in held_out)
    everything = ft.training_pairs(PRODUCTS, RELEVANT, lambda q: True, seed=1)
    assert len(everything) == 4


@pytest.mark.slow
def test_finetune_writes_a_loadable_model_and_reuses_it(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("datasets")
    from sentence_transformers import SentenceTransformer

    pairs = ft.training_pairs(PRODUCTS, RELEVANT, lambda q: True)
    out = ft.finetune(pairs, tmp_path / "model", epochs=1.0)
    assert (out / ft.RECORD).is_file() and not (tmp_path / "model.training").exists()
    vectors = SentenceTransformer(str(out), device="cpu").encode(["cordless drill", "garden hose"])
    assert vectors.shape == (2, 384) and np.isfinite(vectors).all()
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert ft.finetune(pairs, out, epochs=1.0) == out  # same recipe: reused, not retrained
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    ft.finetune(pairs, out, epochs=1.0, lr=1e-5)  # another recipe: trained again
    assert (out / "model.safetensors").stat().st_mtime_ns != stamp
