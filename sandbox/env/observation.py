"""The observation cap: what one step may add to the chat, however hostile the action.

One step adds at most ``MAX_CALLS_PER_TURN + 1`` tool messages (the extra one answers every call beyond the
limit), at most one environment and one supervisor message. Each message's content is cut to
:data:`MAX_MESSAGE_CHARS`; once the step's tool results reach :data:`MAX_TOOL_RESULTS_CHARS`, later results are
replaced by a short note. The observation text (all of that with ``[tool ...]`` headers) is therefore at most
:data:`MAX_OBSERVATION_CHARS`. Every content is also cleaned to valid UTF-8 (catalog records and pages may carry
lone surrogates too), and the replacements are counted.
"""

from __future__ import annotations

import json

from sandbox.safety.text import clean_text

MAX_OBSERVATION_CHARS = 200_000
"""Upper bound on one step's observation text (documented in docs/env.md)."""
MAX_FEEDBACK_CHARS = 16_000
"""Environment and supervisor feedback messages are cut to this length."""
HEADER_ALLOWANCE = 4_000
"""Room for the ``[tool <name> <id>]`` headers and separators (17 headers of at most ~140 characters)."""
MAX_TOOL_RESULTS_CHARS = MAX_OBSERVATION_CHARS - 2 * MAX_FEEDBACK_CHARS - HEADER_ALLOWANCE
MAX_MESSAGE_CHARS = 60_000
"""One tool result is cut to this length (20 full product records fit)."""


def _cut_json(content: str, limit: int) -> str:
    """A result too long to show, as valid JSON that says so and keeps the start of it."""
    note = {"truncated": True, "original_chars": len(content), "shown_chars": 0, "content_start": ""}
    room = max(0, limit - len(json.dumps(note)) - 64)
    start = content[:room]
    while start and len(json.dumps(start, ensure_ascii=False)) > room:  # escapes make the text longer
        start = start[: len(start) * 3 // 4]
    note.update(shown_chars=len(start), content_start=start)
    return json.dumps(note, ensure_ascii=False)


class ObservationBudget:
    """Admits one step's messages under the caps above; create one per step."""

    def __init__(self) -> None:
        self.tool_chars = 0
        self.replaced = 0
        self.cut = 0

    def _clean(self, content: str) -> str:
        content, replaced = clean_text(content)
        self.replaced += replaced
        return content

    def tool_content(self, content: str) -> str:
        content = self._clean(content)
        left = MAX_TOOL_RESULTS_CHARS - self.tool_chars
        limit = min(MAX_MESSAGE_CHARS, left)
        if len(content) > limit:
            self.cut += 1
            if limit < 400:
                content = json.dumps(
                    {
                        "error": "result not shown: this turn's results reached the observation cap of "
                        f"{MAX_OBSERVATION_CHARS} characters; make fewer or smaller calls per turn",
                        "original_chars": len(content),
                    }
                )
            else:
                content = _cut_json(content, limit)
        self.tool_chars += len(content)
        return content

    def feedback(self, content: str) -> str:
        content = self._clean(content)
        if len(content) > MAX_FEEDBACK_CHARS:
            self.cut += 1
            more = len(content) - MAX_FEEDBACK_CHARS + 40
            content = content[: MAX_FEEDBACK_CHARS - 40] + f"... [{more} more characters cut]"
        return content
