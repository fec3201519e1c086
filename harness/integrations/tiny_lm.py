"""A tiny randomly initialised chat model and a tokenizer trained here, for running TRL end to end on a CPU.

The training examples and their test need a model with a tool-calling chat template but no downloaded weights:
:func:`train_chat_tokenizer` trains a byte-level BPE tokenizer on texts of the task (rendered chats, tool
schemas, reports) with ``tokenizers`` and gives it one of the chat templates that ship inside TRL (so TRL
recognises it and parses the tool calls the model writes), and :func:`tiny_qwen2` builds a Qwen2 causal LM of a
few layers from a config. Neither is a useful model; both exercise the real training code paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHAT_TEMPLATES = ("qwen2_5", "qwen3")
"""TRL chat templates whose tool-call format (``<tool_call>`` JSON blocks) the tokenizer is set up for."""

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
"""Control tokens (skipped when decoding)."""
MARKUP_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
"""Tokens of the tool-call markup: single tokens, but kept when decoding (TRL parses tool calls from the text)."""


def chat_template_text(name: str) -> str:
    """The text of a chat template that ships in the TRL wheel (``trl/chat_templates/<name>.jinja``)."""
    import trl

    if name not in CHAT_TEMPLATES:
        raise ValueError(f"chat template {name!r}: expected one of {', '.join(CHAT_TEMPLATES)}")
    return (Path(trl.__file__).parent / "chat_templates" / f"{name}.jinja").read_text(encoding="utf-8")


def train_chat_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 4096, chat_template: str = "qwen2_5"
) -> Any:
    """A ``PreTrainedTokenizerFast`` (byte-level BPE) trained on ``texts``, with a TRL tool-calling template.

    Byte-level BPE encodes any text, so prompts the training texts did not contain still tokenize.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS + MARKUP_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        chat_template=chat_template_text(chat_template),
        padding_side="left",
    )
    fast.add_tokens(MARKUP_TOKENS)  # present already; as added tokens they stay whole and are not skipped
    return fast


def tiny_qwen2(tokenizer: Any, *, layers: int = 2, hidden: int = 64, heads: int = 4, seed: int = 0) -> Any:
    """A randomly initialised ``Qwen2ForCausalLM`` of ``layers`` layers sized for ``tokenizer`` (float32)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=16384,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model


def tool_call_text(name: str, arguments: dict[str, Any]) -> str:
    """One tool call as the qwen2_5 / qwen3 templates write it, ending the assistant turn."""
    import json

    call = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{call}\n</tool_call><|im_end|>"


def tool_call_bias(
    tokenizer: Any, calls: list[tuple[str, dict[str, Any]]], *, base: float = 8.0
) -> list[list[Any]]:
    """``sequence_bias`` (a ``transformers`` generation option) that makes a model write one of ``calls``.

    A randomly initialised model never writes a well-formed tool call, so a trainer driving a real env with it
    would only ever see text turns. Each prefix of a call's tokens gets a bias of ``base * 2**k`` (``k`` its
    length minus one) on its last token, so the longest matched prefix outweighs every shorter one and a call
    comes out whole. Where the calls part (``product_search`` or ``submit_report``), their next tokens get the
    same bias and the model's own logits choose, so the rollouts of a group differ and get different rewards.
    The model's probabilities of the tokens (what GRPO trains) are unchanged. Pass it as
    ``GRPOConfig(generation_kwargs={"sequence_bias": ...})``.
    """
    biases: dict[tuple[int, ...], float] = {}
    for name, arguments in calls:
        ids = tokenizer(tool_call_text(name, arguments), add_special_tokens=False)["input_ids"]
        if len(ids) > 48:
            raise ValueError(
                f"the {name} call is {len(ids)} tokens long; keep it under 48 (the bias doubles)"
            )
        for k in range(len(ids)):
            biases[tuple(ids[: k + 1])] = base * 2.0**k
    return [[list(key), bias] for key, bias in biases.items()]
