"""The ``prgym`` flag vocabulary: one name per input, one meaning per short flag, old spellings kept as aliases.

Every command spells the same input the same way (``--catalog`` for a snapshot read, ``--tasks`` for a task file,
``-n/--n`` for a count, ``-p`` for ``--policy`` only, ...; the table is in docs/harness.md, "Flag vocabulary",
and ``tests/cli/test_flag_vocabulary.py`` walks every command to keep it so). A spelling that was renamed stays
accepted as a hidden option made by :func:`deprecated_option`: it works, prints one ``note:`` line naming the new
spelling, and is an error when given together with the new one.
"""

from __future__ import annotations

from typing import Any

import typer

from harness.defaults import DEFAULT_CONCURRENCY, DEFAULT_MAX_STEPS
from sandbox.errors import UserError

#: (old spelling, new spelling) of every renamed flag (hidden options; the vocabulary test reads this).
DEPRECATED_FLAGS: set[tuple[str, str]] = set()


def deprecated_option(old: str, new: str, *, short: str | None = None, flag: bool = False) -> Any:
    """A hidden option for the old spelling ``old`` (and ``short``) of ``new``; read it with :func:`aliased`.

    ``flag``: the old spelling was an on/off switch (default ``False``), not an option taking a value.
    """
    for name in (old, short):
        if name is not None:
            DEPRECATED_FLAGS.add((name, new))
    names = [old] + ([short] if short else [])
    default = False if flag else None
    return typer.Option(default, *names, hidden=True, help=f"Deprecated: use {new}.", show_default=False)


def deprecation_note(old: str, new: str) -> None:
    """One line on stderr: the old spelling still works, this is the one to use."""
    typer.echo(f"note: {old} is deprecated; use {new}", err=True)


def given(value: Any) -> bool:
    """Whether a deprecated option was given (``None``/``False``/empty are its defaults: not given)."""
    return value is not None and value is not False and value != [] and value != ()


def aliased(ctx: typer.Context, new_param: str, old_param: str, new: str, old: str) -> Any:
    """The value of ``new_param``, or of its deprecated spelling ``old_param`` (with a note) when only that was
    given; both given is a user error."""
    old_value = ctx.params.get(old_param)
    if not given(old_value):
        return ctx.params.get(new_param)
    source = ctx.get_parameter_source(new_param)
    if source is not None and source.name not in {"DEFAULT", "DEFAULT_MAP"}:
        raise UserError(f"give {new} only ({old} is its old spelling)")
    deprecation_note(old, new)
    return old_value


def concurrency_option(help: str = "How many at once.", *, short: bool = True) -> Any:
    """``--concurrency/-c`` with the one default (:data:`DEFAULT_CONCURRENCY`)."""
    names = ["--concurrency", "-c"] if short else ["--concurrency"]
    return typer.Option(DEFAULT_CONCURRENCY, *names, min=1, help=help)


def max_steps_option(help: str = "Actions per episode before truncation.") -> Any:
    """``--max-steps`` with the one default (:data:`DEFAULT_MAX_STEPS`)."""
    return typer.Option(DEFAULT_MAX_STEPS, "--max-steps", min=1, help=help)


def progress_option(help: str = "Show progress bars.") -> Any:
    """``--progress/--no-progress``, on by default, on every command that runs long."""
    return typer.Option(True, "--progress/--no-progress", help=help)
