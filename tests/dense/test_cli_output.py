"""``prgym catalog`` output in dense mode (issue 15, item 7): no library progress bars, build time counted once."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]


def test_hybrid_search_output_has_no_loading_weights_bar(dense_snapshot: Path) -> None:
    """transformers' "Loading weights" bar used to land in the middle of the results table (on stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "COLUMNS": "120"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "catalog",
            "search",
            str(dense_snapshot),
            "quiet fan",
            "--mode",
            "hybrid",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "matches, page 1" in done.stdout
    assert "Loading weights" not in done.stdout + done.stderr
    assert "it/s" not in done.stderr, done.stderr


def test_dense_summary_counts_the_encoding_once(dense_snapshot: Path, tmp_path: Path, monkeypatch) -> None:
    from harness.cli.catalog import _build_dense
    from sandbox.catalog.dense import DenseConfig

    manifest = SimpleNamespace(
        count=10, dimension=384, dtype="float32", index=SimpleNamespace(kind="flat"),
        model=SimpleNamespace(model_id="m"), backend=SimpleNamespace(value="torch"), encoded=10, reused=0, build_seconds=276.0, encode_seconds=257.0,
    )  # fmt: skip
    import sandbox.catalog.dense as dense

    with monkeypatch.context() as patch:  # the figures: 276 s in all, 257 s of it encoding
        patch.setattr(dense, "build_dense_index", lambda *a, **k: manifest)
        line = _build_dense(tmp_path, DenseConfig(), [], tmp_path / "resume", False)
    assert "in 276.0 s (encoding 257.0 s)" in line and "533" not in line

    # A real rebuild: the total it reports lies inside the time the call really took.
    copy = tmp_path / "copy"
    shutil.copytree(dense_snapshot, copy)
    started = time.perf_counter()
    line = _build_dense(copy, DenseConfig(), [dense_snapshot], tmp_path / "resume2", False)
    elapsed = time.perf_counter() - started
    total, encoding = map(float, re.search(r"in ([\d.]+) s \(encoding ([\d.]+) s\)", line).groups())
    assert encoding <= total <= elapsed + 0.05, (line, elapsed)
