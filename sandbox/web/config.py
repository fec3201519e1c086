"""Configuration of the web layer from arguments and environment variables, and factories that wire it up.

Environment variables (all optional):

=========================  ===========================================================================
``PRGYM_WEB_PROVIDER``     ``serper`` | ``tavily`` | ``brave`` | ``searxng`` | ``corpus``
``PRGYM_WEB_CACHE_MODE``   ``live`` | ``record`` | ``replay`` (default) | ``replay_strict``
``PRGYM_WEB_NAMESPACE``    cache namespace (default ``default``)
``PRGYM_CACHE_DIR``        directory of ``web_cache.sqlite`` (default: the platform's user cache dir)
``PRGYM_CORPUS_DIR``       local corpus directory (``prgym web build-corpus``); makes ``corpus`` the default
``SERPER_API_KEY`` ...     provider keys: ``SERPER_API_KEY``, ``TAVILY_API_KEY``, ``BRAVE_API_KEY``
``PRGYM_SERPER_URL`` ...   base-url overrides: ``PRGYM_SERPER_URL``, ``PRGYM_TAVILY_URL``, ``PRGYM_BRAVE_URL``,
                           ``SEARXNG_URL`` (required for SearXNG)
=========================  ===========================================================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field

from sandbox.retry import RetryPolicy
from sandbox.web.cache import WebCache
from sandbox.web.corpus import LocalCorpus, open_corpus
from sandbox.web.errors import ConfigurationError
from sandbox.web.evidence import Summarizer
from sandbox.web.fetch import FetchLimits, HttpFetcher
from sandbox.web.models import CacheMode
from sandbox.web.providers import LIVE_PROVIDERS
from sandbox.web.providers.base import SearchProvider
from sandbox.web.tools import PageSource, WebTools

CACHE_FILENAME = "web_cache.sqlite"
PROVIDER_NAMES = (*LIVE_PROVIDERS, "corpus")


def default_cache_path(env: Mapping[str, str] | None = None) -> Path:
    """``$PRGYM_CACHE_DIR/web_cache.sqlite``, else the platform's user cache directory for ``prgym``."""
    env = os.environ if env is None else env
    base = env.get("PRGYM_CACHE_DIR") or platformdirs.user_cache_dir("prgym")
    return Path(base).expanduser() / CACHE_FILENAME


class WebConfig(BaseModel):
    """Everything needed to build :class:`~sandbox.web.tools.WebTools`; see the module docstring for env vars."""

    model_config = ConfigDict(extra="forbid")

    provider: str = "serper"
    mode: CacheMode = CacheMode.replay
    cache_path: Path | None = None
    namespace: str = "default"
    corpus_dir: Path | None = None
    base_url: str | None = Field(default=None, description="Base url of the live provider (overrides env).")
    api_key: str | None = Field(default=None, repr=False, description="API key (overrides env).")
    timeout_s: float = Field(default=10.0, gt=0)
    retry: RetryPolicy = RetryPolicy()
    fetch: FetchLimits = FetchLimits()
    results_per_query: int = Field(default=10, ge=1, le=50)
    max_queries: int = Field(default=5, ge=1, le=50)
    max_urls: int = Field(default=5, ge=1, le=50)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WebConfig:
        """Defaults from environment variables; explicit ``overrides`` (not ``None``) win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get("PRGYM_CORPUS_DIR"):
            values["corpus_dir"] = Path(env["PRGYM_CORPUS_DIR"])
            values["provider"] = "corpus"
        if env.get("PRGYM_WEB_PROVIDER"):
            values["provider"] = env["PRGYM_WEB_PROVIDER"]
        if env.get("PRGYM_WEB_CACHE_MODE"):
            values["mode"] = env["PRGYM_WEB_CACHE_MODE"]
        if env.get("PRGYM_WEB_NAMESPACE"):
            values["namespace"] = env["PRGYM_WEB_NAMESPACE"]
        values["cache_path"] = default_cache_path(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)


def build_provider(
    config: WebConfig, *, env: Mapping[str, str] | None = None, sleep: Callable[[float], None] | None = None
) -> SearchProvider:
    """The configured search provider; raises ``ConfigurationError`` naming what is missing (key, url, corpus)."""
    if config.provider == "corpus":
        return open_corpus(config.corpus_dir)
    cls = LIVE_PROVIDERS.get(config.provider)
    if cls is None:
        raise ConfigurationError(
            f"unknown web search provider {config.provider!r}; choose one of {', '.join(PROVIDER_NAMES)}"
        )
    kwargs: dict[str, Any] = {
        "api_key": config.api_key,
        "base_url": config.base_url,
        "timeout_s": config.timeout_s,
        "retry": config.retry,
        "env": env,
    }
    if sleep is not None:
        kwargs["sleep"] = sleep
    return cls(**kwargs)


def build_web_tools(
    config: WebConfig,
    *,
    env: Mapping[str, str] | None = None,
    summarizer: Summarizer | Callable[..., str] | None = None,
    provider: SearchProvider | None = None,
    search: bool = True,
) -> WebTools:
    """Provider, page sources (corpus first when one is configured, then HTTP), cache and tools in one call.

    ``search=False`` builds visit-only tools (no provider, so no API key is needed).
    """
    if provider is None and search:
        provider = build_provider(config, env=env)
    sources: list[PageSource] = []
    if isinstance(provider, LocalCorpus):
        sources.append(provider)
    elif config.corpus_dir is not None:
        sources.append(LocalCorpus(config.corpus_dir))
    sources.append(HttpFetcher(config.fetch))
    cache = None
    if config.mode is not CacheMode.live:
        cache = WebCache(config.cache_path or default_cache_path(env), namespace=config.namespace)
    return WebTools(
        provider,
        sources,
        cache=cache,
        mode=config.mode,
        summarizer=summarizer,
        results_per_query=config.results_per_query,
        max_queries=config.max_queries,
        max_urls=config.max_urls,
    )
