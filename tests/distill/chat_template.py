"""A small chat template with tools, reasoning and tool calls (Hermes/Qwen style) and a tiny local tokenizer,
defined here so rendering tests need no hub download."""

from __future__ import annotations

from typing import Any

CHAT_TEMPLATE = (
    "{% if tools %}<tools>{% for t in tools %}{{ t.function.name }};{% endfor %}</tools>\n{% endif %}"
    "{% for m in messages %}"
    "<|{{ m.role }}|>"
    "{% if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}"
    "{{ m.content or '' }}"
    "{% for c in m.tool_calls or [] %}<tool_call>{{ c.function.name }} {{ c.function.arguments }}</tool_call>"
    "{% endfor %}"
    "{% if m.role == 'tool' %}[{{ m.tool_call_id }}]{% endif %}\n"
    "{% endfor %}"
)


def tiny_tokenizer(tokenizers: Any, transformers: Any) -> Any:
    """A word-level ``PreTrainedTokenizerFast`` with :data:`CHAT_TEMPLATE` (modules passed in, so the caller
    can ``pytest.importorskip`` them)."""
    model = tokenizers.models.WordLevel(vocab={"[UNK]": 0, "[PAD]": 1}, unk_token="[UNK]")
    raw = tokenizers.Tokenizer(model)
    raw.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="[UNK]", pad_token="[PAD]"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
