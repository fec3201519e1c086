"""How the ``prgym`` command line reports a user's mistake: one line on stderr, exit code 2, no traceback.

Every command raises :class:`sandbox.errors.UserError` (or a subclass: spec errors, incompatible snapshots,
missing extras, missing dense index, ...) for input the user can fix; the root command group
(:class:`UserErrorGroup`) catches it and prints ``error: <what is wrong>; <how to fix it>``. A pydantic
``ValidationError`` that reaches the top (bad flag values turned into request models) is worded as a sentence the
same way. ``prgym --debug ...`` (or ``PRGYM_DEBUG=1``) re-raises instead, with the full traceback. Anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import os
from typing import Any

import click
from pydantic import ValidationError
from typer.core import TyperGroup

from sandbox.errors import UserError

#: Exit code of a user error (click uses 2 for usage errors too, so scripts see one code for "fix your input").
USER_ERROR_EXIT = 2
#: Exit code after Ctrl-C (the shell's convention: 128 + SIGINT).
INTERRUPTED_EXIT = 130
DEBUG_ENV = "PRGYM_DEBUG"


def debug_enabled() -> bool:
    """``prgym --debug`` sets this for the process; ``PRGYM_DEBUG=1`` works for any entry point."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def set_debug(enabled: bool) -> None:
    if enabled:
        os.environ[DEBUG_ENV] = "1"


def _value_text(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_validation_error(exc: ValidationError, what: str | None = None) -> str:
    """A pydantic error as one sentence: ``invalid search filters: min_rating must be <= 5 (got 9)``."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "__root__")
        message = str(error.get("msg", "invalid value"))
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        message = message.replace("Input should be", "must be").replace("input should be", "must be")
        message = message[0].lower() + message[1:] if message else message
        given = error.get("input")
        got = (
            f" (got {_value_text(given)})"
            if loc and error.get("type") not in {"missing", "model_type"} and not isinstance(given, dict)
            else ""
        )
        parts.append(f"{loc} {message}{got}" if loc else message)
    subject = what or exc.title
    return f"invalid {subject}: " + "; ".join(parts)


def user_error_line(exc: BaseException) -> str | None:
    """The one-line report of a user error, or None when ``exc`` is a bug (it keeps its traceback)."""
    if isinstance(exc, UserError):
        return exc.one_line()
    if isinstance(exc, ValidationError):
        return " ".join(describe_validation_error(exc).split())
    return None


class UserErrorGroup(TyperGroup):
    """The root command group: user errors from any sub-command become one line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        # ``--debug`` sets PRGYM_DEBUG for this command only: restore it afterwards, so a later in-process
        # invocation (tests, notebooks) does not inherit tracebacks instead of one-line errors.
        saved = os.environ.get(DEBUG_ENV)
        try:
            return super().invoke(ctx)
        except (UserError, ValidationError) as exc:
            line = user_error_line(exc)
            if debug_enabled() or line is None:
                raise
            click.echo(f"error: {line}", err=True)
            ctx.exit(USER_ERROR_EXIT)
        finally:
            if saved is None:
                os.environ.pop(DEBUG_ENV, None)
            else:
                os.environ[DEBUG_ENV] = saved
