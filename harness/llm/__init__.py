"""LLM client layer for any OpenAI-compatible endpoint (OpenAI, vLLM, SGLang, Ollama, llama.cpp server).

Per-role configuration (:func:`load_llm_config`), our own retries with backoff and jitter, a concurrency limit
per endpoint, token accounting, and the assistant message passed through verbatim (see :mod:`.client`).
"""

from harness.llm.client import ChatResult, LLMClient, LLMError, make_openai_client, normalize_message
from harness.llm.config import ConfigError, LLMConfig, load_llm_config
from harness.llm.limits import DEFAULT_LIMITS, EndpointLimits, EndpointStats, endpoint_key
from harness.llm.usage import TokenUsage, UsageMeter
from sandbox.retry import backoff_delay, is_retryable_status, parse_retry_after

__all__ = [
    "DEFAULT_LIMITS",
    "ChatResult",
    "ConfigError",
    "EndpointLimits",
    "EndpointStats",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "TokenUsage",
    "UsageMeter",
    "backoff_delay",
    "endpoint_key",
    "is_retryable_status",
    "load_llm_config",
    "make_openai_client",
    "normalize_message",
    "parse_retry_after",
]
