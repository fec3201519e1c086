"""One default per setting (issue 10, tidy 5): ``--concurrency`` and ``--max-steps`` default to the constants in
:mod:`harness.defaults` in every command and in the library functions behind them (they used to be 4 or 8, 40 or
50 depending on where you looked)."""

from __future__ import annotations

import inspect

import pytest
import typer.main

from harness.cli import app
from harness.defaults import DEFAULT_CONCURRENCY, DEFAULT_MAX_STEPS
from harness.distill.pipeline import rewrite_kept
from harness.eval.runner import evaluate
from harness.judge.runs import judge_runs
from harness.rollout.prgym import run_tasks
from harness.rollout.runner import run_rollouts
from harness.server.settings import ServerSettings
from sandbox.env import ProductResearchEnv

ROOT = typer.main.get_command(app)


def _default(path: str, flag: str) -> object:
    command = ROOT
    for name in path.split():
        command = command.commands[name]  # type: ignore[attr-defined]
    (param,) = [p for p in command.params if flag in getattr(p, "opts", ())]
    return param.default


def test_the_constants() -> None:
    assert (DEFAULT_CONCURRENCY, DEFAULT_MAX_STEPS) == (4, 40)


@pytest.mark.parametrize("path", ["run", "rollout", "eval", "distill", "judge", "tasks generate"])
def test_concurrency_defaults_to_the_constant(path: str) -> None:
    assert _default(path, "--concurrency") == DEFAULT_CONCURRENCY


@pytest.mark.parametrize("path", ["run", "rollout", "eval", "serve"])
def test_max_steps_defaults_to_the_constant(path: str) -> None:
    assert _default(path, "--max-steps") == DEFAULT_MAX_STEPS


@pytest.mark.parametrize(
    ("function", "name", "expected"),
    [
        (run_tasks, "concurrency", DEFAULT_CONCURRENCY),
        (run_tasks, "max_steps", DEFAULT_MAX_STEPS),
        (run_rollouts, "concurrency", DEFAULT_CONCURRENCY),
        (evaluate, "concurrency", DEFAULT_CONCURRENCY),
        (evaluate, "max_steps", DEFAULT_MAX_STEPS),
        (rewrite_kept, "concurrency", DEFAULT_CONCURRENCY),
        (judge_runs, "concurrency", DEFAULT_CONCURRENCY),
        (ProductResearchEnv.__init__, "max_steps", DEFAULT_MAX_STEPS),
    ],
    ids=lambda v: getattr(v, "__qualname__", str(v)),
)
def test_the_library_functions_use_the_same_defaults(function, name: str, expected: int) -> None:
    assert inspect.signature(function).parameters[name].default == expected


def test_the_server_and_the_env_bound_episodes_alike() -> None:
    assert ServerSettings.model_fields["max_steps"].default == DEFAULT_MAX_STEPS
    # demo runs through run_tasks without overriding either default
    import harness.demo

    source = inspect.getsource(harness.demo.run_demo)
    assert "concurrency=" not in source and "max_steps=" not in source
