"""``calculate``: safe arithmetic for budgets, unit prices and vouchers, with no code execution.

The expression is parsed with :mod:`ast` and evaluated by walking an allow-list of node types: numbers,
``+ - * / // % **``, unary signs, comparisons, parentheses and a few named functions (``min``, ``max``, ``abs``,
``round``, ``floor``, ``ceil``, ``sqrt``, ``sum``). There is no ``eval``, no names other than those functions, no
attribute access, no subscripts and no strings. Arithmetic is decimal (``0.1 + 0.2 == 0.3``, as prices expect),
the expression length, node count, exponent and every intermediate magnitude are bounded, so no input can make
the tool slow or allocate a huge number.
"""

from __future__ import annotations

import ast
import decimal
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from sandbox.tools.registry import ToolError, ToolResult

MAX_EXPRESSION_CHARS = 500
MAX_NODES = 200
MAX_EXPONENT = 64
MAX_MAGNITUDE = Decimal("1e18")
_PRECISION = 28

_BINARY: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_COMPARE: dict[type[ast.cmpop], Callable[[Decimal, Decimal], bool]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


class CalculateResult(ToolResult):
    """The value of an expression: a number, or ``true``/``false`` for a comparison."""

    expression: str
    result: float | int | bool


def _check_magnitude(value: Decimal) -> Decimal:
    if not value.is_finite() or abs(value) > MAX_MAGNITUDE:
        raise ToolError(f"an intermediate result exceeds the limit of {MAX_MAGNITUDE:.0E} in magnitude")
    return value


def _as_number(value: Decimal | bool, where: str) -> Decimal:
    if isinstance(value, bool):
        raise ToolError(f"{where} needs a number, not the result of a comparison")
    return value


def _round(value: Decimal, digits: Decimal | None = None) -> Decimal:
    places = 0 if digits is None else int(digits)
    if digits is not None and (digits != digits.to_integral_value() or not -10 <= places <= 10):
        raise ToolError("round(x, n) needs a whole number n between -10 and 10")
    return value.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_EVEN)


def _sqrt(value: Decimal) -> Decimal:
    if value < 0:
        raise ToolError("sqrt of a negative number")
    return value.sqrt()


_FUNCTIONS: dict[str, tuple[int, int, Callable[..., Decimal]]] = {
    # name: (min args, max args, implementation)
    "min": (1, 50, lambda *xs: min(xs)),
    "max": (1, 50, lambda *xs: max(xs)),
    "sum": (1, 50, lambda *xs: sum(xs, Decimal(0))),
    "abs": (1, 1, lambda x: abs(x)),
    "round": (1, 2, _round),
    "floor": (1, 1, lambda x: x.to_integral_value(rounding=decimal.ROUND_FLOOR)),
    "ceil": (1, 1, lambda x: x.to_integral_value(rounding=decimal.ROUND_CEILING)),
    "sqrt": (1, 1, _sqrt),
}


class _Evaluator:
    """Walks the allow-listed AST; anything else is a :class:`ToolError` naming the construct.

    Number literals are read as :class:`~decimal.Decimal` from their source text, never through ``float``:
    ``12345678901234567.89 - 12345678901234567`` is ``0.89``, not the ``1`` that float rounding gives.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def visit(self, node: ast.AST) -> Decimal | bool:
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ToolError(f"only numbers are allowed, found {type(value).__name__} {value!r}")
            if isinstance(value, float):
                return _check_magnitude(self._decimal_literal(node, value))
            return _check_magnitude(Decimal(value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            operand = _as_number(self.visit(node.operand), "a sign")
            return operand if isinstance(node.op, ast.UAdd) else -operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = _as_number(self.visit(node.left), "arithmetic")
            right = _as_number(self.visit(node.right), "arithmetic")
            return _check_magnitude(self._binary(_BINARY[type(node.op)], left, right))
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Name):
            raise ToolError(
                f"unknown name {node.id!r}: only numbers and the functions {', '.join(_FUNCTIONS)} are allowed"
            )
        if isinstance(node, ast.Attribute):
            raise ToolError("attribute access (a.b) is not allowed; write plain arithmetic")
        if isinstance(node, ast.Tuple):
            raise ToolError(
                "a comma outside a function call is not allowed; write numbers without thousands separators"
            )
        raise ToolError(
            f"{type(node).__name__} is not allowed; use numbers, + - * / // % **, comparisons and parentheses"
        )

    def _decimal_literal(self, node: ast.Constant, value: float) -> Decimal:
        segment = ast.get_source_segment(self.source, node) or ""
        try:
            return Decimal(segment.replace("_", ""))
        except decimal.InvalidOperation:
            if not math.isfinite(value):
                raise ToolError("the number is too large") from None
            return Decimal(repr(value))

    @staticmethod
    def _binary(op: str, left: Decimal, right: Decimal) -> Decimal:
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op in ("/", "//", "%") and right == 0:
            raise ToolError("division by zero")
        if op == "/":
            return left / right
        if op == "//":
            return (left / right).to_integral_value(rounding=decimal.ROUND_FLOOR)
        if op == "%":
            return left - right * (left / right).to_integral_value(rounding=decimal.ROUND_FLOOR)
        # power: bound the exponent and the size of the result before computing it
        if abs(right) > MAX_EXPONENT:
            raise ToolError(f"exponent {right} is too large; the limit is {MAX_EXPONENT}")
        if left == 0 and right < 0:
            raise ToolError("zero cannot be raised to a negative power")
        if left < 0 and right != right.to_integral_value():
            raise ToolError("a negative number cannot be raised to a fractional power")
        if left != 0 and abs(left) != 1:
            digits = right * abs(left).log10()  # in Decimal: float(1e-340) is 0, whose log10 fails
            if digits > Decimal("18.5"):
                raise ToolError(f"the result of the power exceeds the limit of {MAX_MAGNITUDE:.0E}")
        return left**right

    def _compare(self, node: ast.Compare) -> bool:
        left = _as_number(self.visit(node.left), "a comparison")
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                raise ToolError(f"{type(op).__name__} is not allowed in a comparison; use < <= > >= == !=")
            right = _as_number(self.visit(comparator), "a comparison")
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _call(self, node: ast.Call) -> Decimal:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise ToolError(f"only these functions may be called: {', '.join(_FUNCTIONS)}")
        if node.keywords:
            raise ToolError(f"{node.func.id}() takes no keyword arguments")
        low, high, fn = _FUNCTIONS[node.func.id]
        if not low <= len(node.args) <= high:
            raise ToolError(f"{node.func.id}() takes {low} to {high} arguments, got {len(node.args)}")
        args = [_as_number(self.visit(arg), f"{node.func.id}()") for arg in node.args]
        return _check_magnitude(fn(*args))


def _to_json_number(value: Decimal) -> float | int:
    if value == value.to_integral_value():
        return int(value)
    return float(round(value, 10))


def calculate(expression: Annotated[str, Field(max_length=MAX_EXPRESSION_CHARS)]) -> CalculateResult:
    """Evaluate an arithmetic expression exactly (decimal arithmetic), e.g. for budgets, totals and vouchers.

    Allowed: numbers, + - * / // % ** (exponent at most 64), parentheses, comparisons (< <= > >= == !=) and
    the functions min, max, sum, abs, round, floor, ceil, sqrt. Write plain numbers without currency symbols or
    thousands separators, e.g. "max(1911.65 * (1 - 0.14), 1911.65 - 1465)".

    Args:
        expression: The arithmetic expression to evaluate.
    """
    text = expression.strip()
    if not text:
        raise ToolError("the expression is empty", field="expression")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        hint = " (write plain numbers: no currency symbols, units or thousands separators)"
        raise ToolError(
            f"not a valid arithmetic expression: {exc.msg} at column {exc.offset}{hint}"
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ToolError(f"not a valid arithmetic expression: {type(exc).__name__}") from None
    n_nodes = sum(1 for _ in ast.walk(tree))
    if n_nodes > MAX_NODES:
        raise ToolError(f"the expression has {n_nodes} parts; the limit is {MAX_NODES}", field="expression")
    with decimal.localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.traps[decimal.InvalidOperation] = True
        ctx.traps[decimal.Overflow] = True
        try:
            value = _Evaluator(text).visit(tree)
        except (decimal.InvalidOperation, decimal.Overflow, ArithmeticError):
            raise ToolError("the expression has no finite numeric value") from None
    if isinstance(value, bool):
        return CalculateResult(expression=text, result=value)
    return CalculateResult(expression=text, result=_to_json_number(value))
