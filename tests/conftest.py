"""Shared fixtures: where the real data lives, and skipping cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PRGYM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets beside the repository (``../shared/data``); tests that need them skip without them."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (set PRGYM_SHARED_DATA or place ../shared/data)")
    return SHARED_DATA


SMALL_CATALOG_PRESETS = ("bestbuy", "webmall", "shoppingbench", "amazon_in")


@pytest.fixture(scope="session")
def small_snapshot(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real catalog snapshot (Best Buy, WebMall, ShoppingBench, Amazon.in: ~15k products) built once per run.

    Small enough to build in seconds, diverse enough to exercise every filter: prices in three currencies,
    brands, category paths, shops, services, ratings and stock status.
    """
    from catalog_loader.build import build_snapshot
    from catalog_loader.presets import preset

    specs = [spec for name in SMALL_CATALOG_PRESETS for spec in preset(name, shared_data)]
    out = tmp_path_factory.mktemp("catalog") / "small"
    return build_snapshot(specs, out).snapshot_dir
