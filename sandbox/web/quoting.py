"""Delimiting untrusted web text so that it is always data, never instructions.

Page text can contain anything, including text written to look like instructions to the agent ("ignore your
task and ..."). Everything that came from the web is wrapped in markers the agent's prompt explains, and any
marker-like text inside the page is defused so that a page can never close the quote early. The rule itself
lives in :mod:`sandbox.safety.quoting`, shared with the catalog tools and the env.
"""

from __future__ import annotations

from sandbox.safety.quoting import CLOSE, OPEN, defuse, quote_data, quote_untrusted

__all__ = ["CLOSE", "OPEN", "defuse", "quote_data", "quote_untrusted"]
