"""``prgym run`` checks its setup before the first episode: a down LLM endpoint, an incompatible catalog or a run
folder started with another catalog / seed / task file is one line and exit 2, with no episode run; a run whose
every episode failed exits 1; ``--retry-failed`` runs failures again; Ctrl-C says what was kept (real CLI,
real catalog, real HTTP)."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.testing.openai_server import Reply, ScriptedOpenAIServer
from sandbox.tasks.taskset import TaskSet


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args)


def _line(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def tasks_file(research_tasks, tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    TaskSet(research_tasks[:2]).save(path)
    return path


def _run_args(tasks: Path, catalog: Path, out: Path, *more: str) -> list[str]:
    return [
        "run",
        "--tasks",
        str(tasks),
        "--catalog",
        str(catalog),
        "--out",
        str(out),
        "--no-progress",
        *more,
    ]


def test_a_down_endpoint_is_one_line_naming_the_url_before_any_episode(
    small_snapshot, tasks_file, tmp_path
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    out = tmp_path / "run"
    result = _invoke(
        _run_args(
            tasks_file, small_snapshot, out, "--policy", "openai:my-model", "--llm-set", f"base_url={url}"
        )
    )
    assert result.exit_code == 2, result.output
    line = _line(result)
    assert f"cannot connect to the LLM endpoint {url} (model my-model): connection refused" in line
    assert "--llm-set base_url=URL" in line and "Traceback" not in result.output
    assert not (out / "results.jsonl").exists()  # nothing was run, so nothing needs deleting


def test_every_episode_failing_exits_1_and_retry_failed_runs_them_again(
    small_snapshot, tasks_file, tmp_path
) -> None:
    out = tmp_path / "run"
    with ScriptedOpenAIServer(responder=lambda request: Reply(status=400)) as server:
        args = _run_args(
            tasks_file, small_snapshot, out, "--policy", "openai:scripted",
            "--llm-set", f"base_url={server.base_url}", "--llm-set", "max_retries=0",
        )  # fmt: skip
        first = _invoke(args)
        assert first.exit_code == 1, first.output
        assert "every episode failed (llm_http_error: 2)" in _line(first) and "--retry-failed" in _line(first)

        plain = _invoke(args)  # a plain rerun skips the recorded failures and still says what to do
        assert plain.exit_code == 1 and "2 already finished, 0 run now" in _line(plain)

        retried = _invoke([*args, "--retry-failed"])
        assert retried.exit_code == 1, retried.output
        summary = json.loads((out / "summary.json").read_text())
        assert summary["rerun_failed"] == 2 and summary["ran"] == 2
    assert len((out / "results.jsonl").read_text().splitlines()) == 2


def test_an_incompatible_catalog_fails_fast(small_snapshot, tasks_file, tmp_path) -> None:
    old = tmp_path / "old-snapshot"
    shutil.copytree(small_snapshot, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "format_version": 999}))
    result = _invoke(_run_args(tasks_file, old, tmp_path / "a"))
    assert result.exit_code == 2 and "format 999" in _line(result) and "Traceback" not in result.output
    assert not (tmp_path / "a" / "results.jsonl").exists()

    # an index every episode would need but the snapshot lacks: one line before any episode
    hybrid = _invoke(
        _run_args(tasks_file, small_snapshot, tmp_path / "b", "--env-arg", "backend_kind=hybrid")
    )
    assert hybrid.exit_code == 2 and "dense" in _line(hybrid) and "Traceback" not in hybrid.output
    assert not (tmp_path / "b" / "results.jsonl").exists()


def test_a_rerun_with_another_catalog_seed_or_tasks_is_refused(
    small_snapshot, research_tasks, tasks_file, tmp_path
) -> None:
    out = tmp_path / "run"
    first = _invoke(_run_args(tasks_file, small_snapshot, out, "--seed", "3"))
    assert first.exit_code == 0, first.output
    identity = json.loads((out / "run.json").read_text())
    assert identity["seed"] == 3 and identity["catalog_snapshot_id"].startswith("cat-")
    assert identity["tasks_checksum"].startswith("sha256:")

    seed = _invoke(_run_args(tasks_file, small_snapshot, out, "--seed", "4"))
    assert seed.exit_code == 2 and "seed 3 -> 4" in _line(seed) and "another --out" in _line(seed)

    other_tasks = tmp_path / "other.jsonl"
    TaskSet(research_tasks[2:4]).save(other_tasks)
    tasks = _invoke(_run_args(other_tasks, small_snapshot, out, "--seed", "3"))
    assert tasks.exit_code == 2 and "tasks sha256:" in _line(tasks)

    from catalog_loader.build import write_snapshot
    from sandbox.catalog.snapshot import Snapshot

    smaller = tmp_path / "smaller"
    write_snapshot([p for _, p in Snapshot(small_snapshot).store.iter_products()][::3], smaller)
    catalog = _invoke(_run_args(tasks_file, smaller, out, "--seed", "3"))
    assert catalog.exit_code == 2 and f"catalog {identity['catalog_snapshot_id']} ->" in _line(catalog)
    assert len((out / "results.jsonl").read_text().splitlines()) == 2  # nothing mixed in

    same = _invoke(_run_args(tasks_file, small_snapshot, out, "--seed", "3"))
    assert same.exit_code == 0 and "2 already finished" in _line(same)


def test_ctrl_c_says_what_was_kept_and_how_to_resume(
    small_snapshot, tasks_file, tmp_path, monkeypatch
) -> None:
    import harness.cli.run as run_module

    async def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "run_tasks", interrupted)
    out = tmp_path / "run"
    result = _invoke(_run_args(tasks_file, small_snapshot, out))
    assert result.exit_code == 130
    assert "interrupted: 0 finished episode(s) are kept in" in _line(result)
    assert "run the same command again to resume" in _line(result)
