"""The one exception type for mistakes a user can fix (a bad flag, a missing file, an incompatible snapshot).

Any layer may raise :class:`UserError` (or subclass it): ``catalog_loader``, ``sandbox`` and ``harness`` alike, since
it lives at the bottom of the import graph. The ``prgym`` command line turns it into one line on stderr and exit
code 2, with the traceback only under ``prgym --debug``; a library caller gets an ordinary exception whose message
already names what is wrong and how to fix it. Anything that is *not* a ``UserError`` is treated as a bug and keeps
its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix. The message says what is wrong; ``hint`` (optional) says how to fix it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}; {hint}")

    def __str__(self) -> str:  # also for subclasses of KeyError, whose own __str__ would quote the message
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()

    def one_line(self) -> str:
        """The whole message on one line (newlines in nested messages folded)."""
        return " ".join(str(self).split())
