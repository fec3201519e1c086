"""Delimiting untrusted web text so that it is always data, never instructions.

Page text can contain anything, including text written to look like instructions to the agent ("ignore your
task and ..."). Everything that came from the web is wrapped in markers the agent's prompt explains, and any
marker-like text inside the page is defused so that a page can never close the quote early.
"""

from __future__ import annotations

OPEN = "<<<UNTRUSTED PAGE TEXT"
CLOSE = "<<<END UNTRUSTED PAGE TEXT>>>"


def defuse(text: str) -> str:
    """Make ``text`` unable to open or close a quote: every ``<<<`` and ``>>>`` becomes a look-alike."""
    return text.replace("<<<", "\u2039\u2039\u2039").replace(">>>", "\u203a\u203a\u203a")


def quote_untrusted(text: str, *, url: str | None = None, source: str | None = None) -> str:
    """``text`` between untrusted-data markers; the page ``url`` (or another ``source`` label) opens the quote."""
    origin = f"url={defuse(url)}" if url is not None else f"source={defuse(source or 'web')}"
    return f"{OPEN} {origin}>>>\n{defuse(text)}\n{CLOSE}"
