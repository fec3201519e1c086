"""The one parser of ``openai:MODEL`` role specs (``--policy``, ``--supervisor``, ``--writer``, ``--rewriter``,
``--judge``): every flag that picks an LLM or a built-in alternative reads it the same way."""

from __future__ import annotations

from collections.abc import Sequence

PREFIX = "openai:"


def model_of(spec: str, *, flag: str, alternatives: Sequence[str] = ()) -> str | None:
    """``openai:MODEL`` -> ``MODEL``; one of ``alternatives`` (built-in, no LLM) -> ``None``.

    Raises ValueError naming ``flag`` and what it accepts for anything else, ``openai:`` without a model
    included.
    """
    if spec in alternatives:
        return None
    if spec.startswith(PREFIX) and spec[len(PREFIX) :].strip():
        return spec[len(PREFIX) :].strip()
    expected = " or ".join([*alternatives, "openai:MODEL"])
    raise ValueError(f"{flag} {spec!r}: expected {expected} (e.g. openai:qwen3-8b)")
