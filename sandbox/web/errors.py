"""Errors of the web layer.

Tool functions turn all of them into an ``error`` string the agent reads; library callers (the CLI, the
benchmarks, the harness) catch them by type.
"""

from __future__ import annotations

from sandbox.errors import UserError


class WebError(Exception):
    """Base class of every error raised by ``sandbox.web``."""


class ConfigurationError(UserError, WebError):
    """A provider or cache cannot be set up as configured (for example a missing API key)."""


class MissingKeyError(ConfigurationError):
    """A live provider was chosen but its API key is not set; the message names the environment variable."""

    def __init__(self, provider: str, env_var: str) -> None:
        self.provider = provider
        self.env_var = env_var
        super().__init__(
            f"{provider} search needs an API key: set the environment variable {env_var} "
            f"(or pass api_key=... to the provider)"
        )


class ProviderError(WebError):
    """A search service failed or answered something other than its documented format."""

    def __init__(self, provider: str, message: str, *, status: int | None = None, transient: bool = False):
        self.provider = provider
        self.status = status
        self.transient = transient
        super().__init__(f"{provider}: {message}")


class FetchError(WebError):
    """A page could not be read. ``transient`` errors (timeouts, 5xx) are never stored in the cache."""

    def __init__(self, url: str, message: str, *, status: int | None = None, transient: bool = False):
        self.url = url
        self.status = status
        self.transient = transient
        super().__init__(message)


class CacheMissError(UserError, WebError):
    """``replay_strict`` mode found no stored answer; the message names the request that was not recorded."""

    def __init__(self, description: str, key: str) -> None:
        self.description = description
        self.key = key
        super().__init__(f"not in the frozen web cache (replay_strict): {description} [key {key[:16]}]")


class CacheCorruptError(UserError, WebError):
    """A stored payload no longer matches its checksum or cannot be decoded."""
