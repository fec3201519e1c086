"""The context size of an endpoint: set by ``max_context_tokens``, reported by the server, or learnt from a refusal.

A chat that outgrows the model's context is refused by the server (HTTP 400 on OpenAI and vLLM, 500 on some
llama.cpp builds); retrying the same prompt cannot help, so the caller has to shorten it *before* sending. To do
that it must know the size, which OpenAI-compatible servers report in different places, when at all:

=========================  ===============================================================================
vLLM                       ``GET /v1/models``: ``data[i].max_model_len``
llama.cpp ``llama-server``  ``GET /props``: ``default_generation_settings.n_ctx`` (the server's own ``-c``);
                           ``GET /v1/models``: ``data[i].meta.n_ctx_train`` (the model's training context)
LM Studio, OpenRouter      ``GET /v1/models``: ``max_context_length`` / ``context_length``
llama-cpp-python, Ollama   not reported; learnt from the first refusal ("exceed context window of 8192")
=========================  ===============================================================================

:data:`REPORTED_CONTEXT` keeps what the servers said, keyed by endpoint (like :mod:`.limits`): the run's
preflight check fills it from ``/models`` (and ``/props`` for ``compat=llamacpp``), the client from a refusal's
text, so later episodes trim before they would overflow. :func:`context_limit` is what callers read:
``max_context_tokens`` when set, else the reported size.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from harness.llm.config import LLMConfig
from harness.llm.limits import endpoint_key

#: ``/v1/models`` fields holding a context size, most specific first (the server's setting before the model's).
MODEL_FIELDS = ("max_model_len", "max_context_length", "context_length", "context_window")
#: Context sizes in refusal texts: OpenAI/vLLM, llama-cpp-python, llama.cpp server, SGLang, Ollama.
ERROR_SIZES = (
    re.compile(r"maximum context length is (\d+)", re.IGNORECASE),
    re.compile(r"context window of (\d+)", re.IGNORECASE),
    re.compile(r"available context size \((\d+) tokens?\)", re.IGNORECASE),
    re.compile(r"context length of (\d+)", re.IGNORECASE),
    re.compile(r"\bn_ctx(?:_slot)?\s*[=:]\s*(\d+)", re.IGNORECASE),
)


@dataclass(frozen=True)
class ContextSize:
    """A context size in tokens and where it was read (``"/props default_generation_settings.n_ctx"``, ...)."""

    tokens: int
    source: str


def _positive(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if value > 0 else None


def from_models(data: Any, model: str | None = None) -> ContextSize | None:
    """The context size in a ``GET /models`` reply (the entry of ``model`` when listed, else the first)."""
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    entries = [e for e in entries if isinstance(e, dict)]
    chosen = [e for e in entries if model and e.get("id") == model] or entries
    for entry in chosen[:1]:
        for field in MODEL_FIELDS:
            tokens = _positive(entry.get(field))
            if tokens:
                return ContextSize(tokens, f"/models {field}")
        meta = entry.get("meta")
        tokens = _positive(meta.get("n_ctx_train")) if isinstance(meta, dict) else None
        if tokens:
            return ContextSize(tokens, "/models meta.n_ctx_train")
    return None


def from_props(data: Any) -> ContextSize | None:
    """The context size in llama.cpp's ``GET /props`` reply."""
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    tokens = _positive(settings.get("n_ctx")) if isinstance(settings, dict) else None
    if tokens:
        return ContextSize(tokens, "/props default_generation_settings.n_ctx")
    tokens = _positive(data.get("n_ctx"))
    return ContextSize(tokens, "/props n_ctx") if tokens else None


def from_error(text: str) -> ContextSize | None:
    """The context size a length refusal names, e.g. llama-cpp-python's "exceed context window of 8192"."""
    for pattern in ERROR_SIZES:
        match = pattern.search(text)
        if match and int(match.group(1)) > 0:
            return ContextSize(int(match.group(1)), "the server's refusal")
    return None


def server_root(base_url: str) -> str:
    """``http://h:8080/v1`` -> ``http://h:8080``: llama.cpp's ``/props`` is not under ``/v1``."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


class ReportedContext:
    """Context sizes servers reported, per endpoint. Any thread may record (the preflight check runs in one
    event loop, episodes in another); the first size recorded from a refusal replaces a reported one, since
    the server applies it."""

    def __init__(self) -> None:
        self._sizes: dict[str, ContextSize] = {}
        self._lock = threading.Lock()

    def record(self, base_url: str, size: ContextSize | None) -> None:
        if size is None:
            return
        with self._lock:
            self._sizes[endpoint_key(base_url)] = size

    def get(self, base_url: str) -> ContextSize | None:
        with self._lock:
            return self._sizes.get(endpoint_key(base_url))

    def clear(self) -> None:
        with self._lock:
            self._sizes.clear()


REPORTED_CONTEXT = ReportedContext()


def context_limit(config: LLMConfig, reported: ReportedContext | None = None) -> int | None:
    """The context size to keep a chat within: ``max_context_tokens`` when set, else what the server reported
    (``None`` when neither is known: the chat is sent as the trim strategy left it)."""
    if config.max_context_tokens is not None:
        return config.max_context_tokens
    size = (reported or REPORTED_CONTEXT).get(config.base_url)
    return size.tokens if size else None
