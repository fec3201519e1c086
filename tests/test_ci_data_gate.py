"""The CI gate of tests/conftest.py: in CI, with the data folder present, a skip for missing data fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parent / "conftest.py"

# A throwaway suite that loads the real conftest (its fixtures and hook) and has one real-data test and one test
# that skips for another reason (an extra not installed), which must stay a skip.
INNER_CONFTEST = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("prgym_root_conftest", {str(CONFTEST)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
shared_data = module.shared_data
pytest_runtest_makereport = module.pytest_runtest_makereport
"""
INNER_TESTS = """
import pytest

def test_needs_data(shared_data):
    assert shared_data.is_dir()

def test_needs_an_extra():
    pytest.skip("the xyz extra is not installed")
"""


def _run(tmp_path: Path, data: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    (suite / "conftest.py").write_text(INNER_CONFTEST)
    (suite / "test_inner.py").write_text(INNER_TESTS)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PRGYM_SHARED_DATA"] = str(data)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the installed plugins play no part here; start fast
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(suite),
            str(suite),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=suite,
        timeout=120,
    )


def test_ci_with_a_data_folder_fails_data_skips(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()  # the folder exists but holds no README.md: a broken data setup
    result = _run(tmp_path, data, "true")
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout and "1 skipped" in result.stdout
    assert "yet the test skipped: real data not found" in result.stdout
    assert "the xyz extra is not installed" in result.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_data_skips_stay_skips(tmp_path: Path, ci: str | None) -> None:
    data = tmp_path / "data"
    data.mkdir()
    result = _run(tmp_path, data, ci)
    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout


def test_ci_without_the_data_folder_skips(tmp_path: Path) -> None:
    result = _run(tmp_path, tmp_path / "absent", "true")
    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout and "real data not found" in result.stdout


def test_ci_with_the_data_runs_the_test(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.md").write_text("data\n")
    result = _run(tmp_path, data, "true")
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout
