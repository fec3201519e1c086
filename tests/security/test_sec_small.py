"""Small hardening fixes (issue 14, item 11): calculate literals and underflow, reset options, splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.env import ProductResearchEnv
from sandbox.tools.calculate import calculate
from sandbox.tools.registry import ToolError


def test_power_of_an_underflowing_number_is_a_value_not_an_internal_error() -> None:
    assert calculate("(1e-170*1e-170)**2").result == 0.0
    with pytest.raises(ToolError, match="exceeds the limit"):
        calculate("(1e-170)**-2")


def test_literals_are_decimal() -> None:
    assert calculate("12345678901234567.89 - 12345678901234567").result == 0.89
    assert calculate("1_000.5 * 2").result == 2001
    assert calculate("0.1 + 0.2 == 0.3").result is True


def test_calculate_underflow_through_the_env(env) -> None:
    observation, *_, info = env.step({"name": "calculate", "arguments": {"expression": "(1e-170*1e-170)**2"}})
    assert info["internal_errors"] == 0 and '"result":0.0' in observation


def test_reset_options_must_be_a_dict(small_snapshot: Path) -> None:
    env = ProductResearchEnv(small_snapshot)
    with pytest.raises(TypeError, match="must be a dict"):
        env.reset(options=[1, 2])


def test_split_without_a_task_set_is_an_error(small_snapshot: Path) -> None:
    env = ProductResearchEnv(small_snapshot)
    with pytest.raises(ValueError, match="needs a task set"):
        env.reset(options={"split": "nonsense"})
