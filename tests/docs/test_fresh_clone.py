"""The README's opening commands on a fresh clone, beside a writable and a read-only ``../shared`` (issue 15).

README command 1 is ``python3 -m venv .venv && . .venv/bin/activate && pip install -e . &&
PRGYM_DATA_DIR=../shared/data prgym demo``. This test clones the checkout's ``HEAD`` into a temporary folder, puts
a copy of the shared data beside it as ``../shared/data`` (writable, then read-only) and runs the command's last
part, ``PRGYM_DATA_DIR=../shared/data prgym demo``, in the clone with this test's installed environment (its
``prgym``, ``PYTHONPATH`` the clone): the venv and ``pip install -e .`` are what CI's ``.ci/run`` does from
scratch on every run. Command 2 (``pytest``, the test suite) is this suite and is not rerun here.

Each run starts from an empty user cache (``XDG_CACHE_HOME``), as on a new machine. Root ignores file modes, so
besides the read-only modes the test compares every entry's size, mtime and mode under the shared copy before
and after, and checks that the clone's work tree is still clean: the demo writes only into the user cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from data_copies import listing, make_writable, read_only_copy
from docs_blocks import REPO_ROOT, read_blocks

pytestmark = pytest.mark.slow

COMMAND = "PRGYM_DATA_DIR=../shared/data prgym demo"


def test_readme_command_1_is_the_one_run_here() -> None:
    """If the README's first command changes, this test must change with it."""
    first = read_blocks("README.md")[0].text
    assert f"pip install -e . && {COMMAND}\n" in first, first


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO_ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout (or no git): nothing to clone")
    root = tmp_path_factory.mktemp("clone")
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(root / "prgym")], check=True)
    return root / "prgym"


def _run_demo(checkout: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PRGYM_DATA_DIR", None)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(checkout),
        XDG_CACHE_HOME=str(cache),
        HF_HUB_OFFLINE="1",
        COLUMNS="120",
    )
    return subprocess.run(
        ["bash", "-c", COMMAND],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.parametrize("mode", ["writable", "read-only"])
def test_readme_command_1_on_a_fresh_clone(mode: str, clone: Path, shared_data: Path, tmp_path: Path) -> None:
    # The clone and its ../shared/data: a folder per mode, the clone copied (not re-cloned) beside the data.
    checkout = tmp_path / "prgym"
    shutil.copytree(clone, checkout, symlinks=True)
    (tmp_path / "shared").mkdir()
    data = tmp_path / "shared" / "data"
    if mode == "read-only":
        read_only_copy(shared_data, data)
    else:
        shutil.copytree(shared_data, data)
    before = listing(data)
    try:
        result = _run_demo(checkout, tmp_path / "cache")
        after = listing(data)
    finally:
        if mode == "read-only":
            make_writable(data)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert after == before, f"prgym demo changed the {mode} data folder"
    # What the README says the demo prints: a report, the metrics table and where the traces are.
    assert "episode metrics" in output and "scripted" in output, output
    assert f"results: {tmp_path / 'cache' / 'prgym' / 'demo'}" in output, output
    assert "traces: " in output and "prgym distill " in output, output
    # The prgym entry point imports the clone's code (PYTHONPATH comes before the installed package).
    where = subprocess.run(
        [sys.executable, "-c", "import harness; print(harness.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(checkout), (
        f"ran {where.stdout.strip()}, not the clone's code"
    )
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True, check=True
    )
    assert status.stdout == "", f"the demo wrote into the checkout:\n{status.stdout}"
