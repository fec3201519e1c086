"""One ``openai:MODEL`` parser (``harness/llm/spec.py``): every flag reads the spec through it, no copy slices it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.llm.spec import model_of

ROOT = Path(__file__).resolve().parents[2]


def test_model_of_accepts_models_and_alternatives() -> None:
    assert model_of("openai:qwen3-8b", flag="--policy") == "qwen3-8b"
    assert model_of("openai: qwen3-8b ", flag="--policy") == "qwen3-8b"
    assert model_of("offline", flag="--rewriter", alternatives=("offline",)) is None
    with pytest.raises(ValueError, match=r"--writer 'openai:': expected template or openai:MODEL"):
        model_of("openai:", flag="--writer", alternatives=("template",))
    with pytest.raises(ValueError, match=r"--judge 'gpt': expected openai:MODEL"):
        model_of("gpt", flag="--judge")


def test_no_other_module_parses_the_spec() -> None:
    """A second parser shows as the prefix tested or sliced off a string: ``startswith("openai:")``,
    ``[len("openai:"):]``, ``[7:]`` or ``partition(":")`` compared with ``"openai"``."""
    copies = re.compile(r'startswith\("openai:"\)|len\("openai:"\)|\[7:\]|!= "openai"|== "openai:"')
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("harness", "sandbox", "catalog_loader", "prgym")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "spec.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if copies.search(line)
    ]
    assert found == []
