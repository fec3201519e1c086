"""``calculate``: exact decimal arithmetic, and every non-arithmetic construct refused with a clear error."""

from __future__ import annotations

import json

import pytest

from sandbox.tools.calculate import calculate
from sandbox.tools.registry import Tool, ToolError, ToolRegistry


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0.1 + 0.2", 0.3),
        ("49.99 * 3", 149.97),
        ("453 - 34", 419),
        ("max(1911.65 * (1 - 0.14), 1911.65 - 1465)", 1644.019),
        ("min(1000 * (1 - 0.5), 1000 - 100)", 500),
        ("round(2 / 3, 2)", 0.67),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("2 ** 10", 1024),
        ("sqrt(16)", 4),
        ("floor(2.7) + ceil(2.1)", 5),
        ("abs(-3.5)", 3.5),
        ("sum(1, 2, 3.5)", 6.5),
        ("-(3 - 5)", 2),
    ],
)
def test_arithmetic_is_exact(expression: str, expected: float) -> None:
    assert calculate(expression).result == expected


def test_comparisons_return_booleans() -> None:
    assert calculate("453 - 34 <= 425").result is True
    assert calculate("1 < 2 < 2").result is False


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("__import__('os').system('ls')", "only these functions"),
        ("().__class__", "attribute access"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "only numbers"),
        ("9 ** 9 ** 9", "exponent"),
        ("10 ** 30", "exceeds the limit"),
        ("1e300 * 1e300", "exceeds the limit"),
        ("1 / 0", "division by zero"),
        ("[1, 2][0]", "not allowed"),
        ("lambda: 1", "not allowed"),
        ("32,999 + 1", "comma"),
        ("$49.99 * 2", "not a valid arithmetic expression"),
        ("max(1, 2, key=3)", "no keyword"),
        ("sqrt(-1)", "negative"),
        ("(-8) ** 0.5", "fractional power"),
        ("1 if 2 else 3", "not allowed"),
        ("", "empty"),
    ],
)
def test_non_arithmetic_is_refused(expression: str, fragment: str) -> None:
    with pytest.raises(ToolError) as excinfo:
        calculate(expression)
    assert fragment in str(excinfo.value)


def test_size_limits() -> None:
    with pytest.raises(ToolError, match="parts"):
        calculate("+".join(["1"] * 150))
    registry = ToolRegistry([Tool.from_function(calculate, "read")])
    outcome = registry.call("calculate", json.dumps({"expression": "1+" * 400 + "1"}))
    assert not outcome.ok and outcome.error_kind == "invalid_arguments"
    assert "expression" in outcome.error


def test_through_the_registry_errors_are_observations() -> None:
    registry = ToolRegistry([Tool.from_function(calculate, "read")])
    ok = registry.call("calculate", '{"expression": "453 - 34"}')
    assert ok.ok and json.loads(ok.content) == {"expression": "453 - 34", "result": 419}
    bad = registry.call("calculate", '{"expression": "open(\'/etc/passwd\')"}')
    assert not bad.ok and bad.error_kind == "tool_error"
    assert json.loads(bad.content)["error"].startswith("calculate:")
