"""``prgym run --config run.toml`` (flags override the file; unknown keys are one line naming key and file, exit
2) and the global ``prgym --log-level`` (issue 10, tidy 5)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from harness.cli import app
from harness.cli.logs import PRGYM_LOGGERS, _PrgymHandler, chosen_level
from harness.run_config import RunConfigError, config_defaults
from sandbox.env import shared_backend
from sandbox.tasks.generator import generate_tasks
from sandbox.tasks.taskset import TaskSet

runner = CliRunner()
RUN = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]


@pytest.fixture
def tasks_file(small_snapshot: Path, tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    TaskSet(generate_tasks(shared_backend(small_snapshot), 3, 0)).save(path)
    return path


@pytest.fixture(autouse=True)
def _restore_logging():
    """--log-level adds a handler on the root logger and sets prgym's levels: undo both after each test."""
    levels = {name: logging.getLogger(name).level for name in PRGYM_LOGGERS}
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _PrgymHandler)]:
        root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_the_file_drives_the_run_and_flags_override_it(
    small_snapshot: Path, tasks_file: Path, tmp_path: Path
) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        f'tasks = "{tasks_file}"\ncatalog = "{small_snapshot}"\npolicy = "scripted"\n'
        f'out = "{tmp_path / "from-file"}"\nlimit = 1\nmax_steps = 30\nprogress = false\n'
        "[env-arg]\nreport_revisions = 2\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert [r["task_id"] for r in _records(tmp_path / "from-file")] == ["ua-0-00000"]
    # flags given on the command line win over the file: another --out, two tasks
    out = tmp_path / "from-flags"
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(out), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert len(_records(out)) == 2


def test_values_become_the_flags_defaults(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        'policy = "openai:m"\nllm-set = {temperature = 0.2, stream = false}\n'
        '[env-arg]\nbackend_kind = "hybrid"\nreward = {research_weights = {accepted = 1}}\n',
        encoding="utf-8",
    )
    assert config_defaults(config, RUN) == {
        "policy": ["openai:m"],  # a repeatable option takes one value or a list
        "llm_set": ["temperature=0.2", "stream=false"],
        "env_arg": ["backend_kind=hybrid", 'reward={"research_weights": {"accepted": 1}}'],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tasks = 'x.jsonl'\nconcurency = 8\n", "unknown key 'concurency'"),
        ("seed = [1, 2]\n", "seed takes one value, got a list"),
        ("limit = {a = 1}\n", "limit is a table"),
        ("tasks = [\n", "not valid TOML"),
    ],
)
def test_bad_files_are_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "run.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(RunConfigError, match=message):
        config_defaults(config, RUN)
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(tmp_path / "o")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and str(config) in lines[0] and message in lines[0]


def test_a_missing_config_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(tmp_path / "nope.toml")])
    assert (
        result.exit_code == 2
        and result.output.strip() == f"error: --config {tmp_path / 'nope.toml'}: no such file"
    )


def test_rollout_reads_a_config_too(tmp_path: Path) -> None:
    config = tmp_path / "rollout.toml"
    config.write_text(
        'task-ids = "a,b"\nenv = "harness.testing.echo_env:EchoToolEnv"\ntrials = 2\n', encoding="utf-8"
    )
    rollout = typer.main.get_command(app).commands["rollout"]  # type: ignore[attr-defined]
    assert config_defaults(config, rollout) == {
        "task_ids": "a,b",
        "env": "harness.testing.echo_env:EchoToolEnv",
        "trials": 2,
    }


def test_log_level_shows_the_runners_messages(small_snapshot: Path, tasks_file: Path, tmp_path: Path) -> None:
    args = [
        "run",
        "--tasks",
        str(tasks_file),
        "--catalog",
        str(small_snapshot),
        "--limit",
        "1",
        "--no-progress",
    ]
    quiet = runner.invoke(app, [*args, "--out", str(tmp_path / "quiet")])
    assert quiet.exit_code == 0 and "harness.rollout.runner" not in quiet.output
    assert chosen_level() is None
    loud = runner.invoke(app, ["--log-level", "debug", *args, "--out", str(tmp_path / "loud")])
    assert loud.exit_code == 0, loud.output
    assert "DEBUG harness.rollout.runner: episode ua-0-00000::scripted::0: completed" in loud.output
    assert "INFO harness.rollout.runner: " in loud.output and chosen_level() == "debug"
    bad = runner.invoke(app, ["--log-level", "loud", "data", "path"])
    assert bad.exit_code == 2 and "'loud' is not one of 'debug', 'info', 'warning', 'error'" in " ".join(
        bad.output.split()
    )


def test_the_documented_example_is_a_valid_run_config(tmp_path: Path) -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "harness.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n# run.toml\n(.*?)```", text, re.S)
    assert example is not None, "docs/harness.md lost its run.toml example"
    config = tmp_path / "run.toml"
    config.write_text(example.group(1), encoding="utf-8")
    defaults = config_defaults(config, RUN)
    assert defaults["max_steps"] == 60 and defaults["env_arg"] == [
        "backend_kind=hybrid",
        "report_revisions=2",
    ]
