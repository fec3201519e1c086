"""The chat templates that ship inside the TRL wheel (``trl/chat_templates/*.jinja``: the Qwen, gpt-oss, GLM,
Llama, DeepSeek... templates as their model repos publish them), rendered the way a trainer does: a tokenizer
object with ``chat_template`` set and ``apply_chat_template(messages, tools=...)``. The tokenizer is a tiny
word-level one built here, so no hub download is needed; the text comes from transformers' own renderer."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest


def trl_template(name: str) -> str:
    """The text of ``trl/chat_templates/<name>.jinja`` (skips the test when trl is not installed)."""
    pytest.importorskip("trl", reason="the real chat templates come from the trl wheel (pip install trl)")
    path = resources.files("trl") / "chat_templates" / f"{name}.jinja"
    if not path.is_file():
        raise AssertionError(f"trl ships no chat template {name!r} at {path}")
    return path.read_text(encoding="utf-8")


def tokenizer_with(template: str) -> Any:
    """A word-level ``PreTrainedTokenizerFast`` whose ``chat_template`` is ``template``."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    model = tokenizers.models.WordLevel(vocab={"[UNK]": 0, "[PAD]": 1}, unk_token="[UNK]")
    raw = tokenizers.Tokenizer(model)
    raw.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="[UNK]", pad_token="[PAD]"
    )
    tokenizer.chat_template = template
    return tokenizer


def render(name: str, row: dict[str, Any]) -> str:
    """One sample rendered through TRL's template ``name`` (text, not tokens)."""
    tokenizer = tokenizer_with(trl_template(name))
    return tokenizer.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
