"""Shared fixtures: where the real data lives, and skipping cleanly when it is absent.

Skipping is honest on a laptop without the data, not in CI: with ``CI`` set (``true``/``1``/``yes``) and the data
folder present, a test that skips for missing data fails the run instead, so a broken data path cannot turn
hundreds of real-data tests into a green "skipped" line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PRGYM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
# Every skip for missing data says this, so the CI gate below can tell it from other skips (extras, clusters).
DATA_MISSING = "real data not found"
# The real-model suite needs a llama.cpp server built from source (minutes): it runs only under `bash .ci/real-llm`,
# which sets PRGYM_REAL_LLM_URL; elsewhere it is not collected at all (no skip is counted).
collect_ignore_glob = [] if os.environ.get("PRGYM_REAL_LLM_URL") else ["real_llm/*"]


@pytest.fixture(autouse=True)
def _forget_reported_context_sizes():  # type: ignore[no-untyped-def]
    """Scripted servers reuse ports: a context size one test's server reported (or named in a refusal) must not
    make a later test's agent trim to it (``harness.llm.context.REPORTED_CONTEXT`` is keyed by URL)."""
    from harness.llm.context import REPORTED_CONTEXT

    REPORTED_CONTEXT.clear()
    yield
    REPORTED_CONTEXT.clear()


def data_skips_fail() -> bool:
    """True in CI (``CI`` set to true/1/yes) when the data folder exists: a data skip there is a broken setup."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"} and SHARED_DATA.is_dir()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Turn a skip for missing data into a failure when :func:`data_skips_fail` says the data should be there."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not data_skips_fail():
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if DATA_MISSING in reason:
        report.outcome = "failed"
        report.longrepr = f"CI=true and {SHARED_DATA} exists, yet the test skipped: {reason}"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets beside the repository (``../shared/data``); tests that need them skip without them."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(
            f"{DATA_MISSING} at {SHARED_DATA} (no README.md; set PRGYM_SHARED_DATA or place ../shared/data)"
        )
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
