"""Fixtures for the env server tests: the real small snapshot, a task file, and a running ``prgym serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("openenv", reason="the serve extra (pip install prgym[serve]) is not installed")

from server_helpers import ServerProcess  # noqa: E402

from sandbox.env import shared_backend  # noqa: E402
from sandbox.tasks.generator import generate_tasks  # noqa: E402


@pytest.fixture(scope="session")
def server_tasks(small_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six research tasks generated from the real catalog, as a task file the server and the client read."""
    tasks = generate_tasks(shared_backend(small_snapshot), 6, seed=7)
    path = tmp_path_factory.mktemp("server-tasks") / "tasks.jsonl"
    path.write_text("".join(t.model_dump_json() + "\n" for t in tasks), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(
    small_snapshot: Path, server_tasks: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        small_snapshot,
        server_tasks,
        tmp_path_factory.mktemp("server") / "server.log",
        "--max-message-bytes",
        "65536",
        "--log-level",
        "debug",
    )
    yield proc
    proc.stop()
