"""Cached web search and page reading for research agents: live providers, a local corpus, record / replay.

Typical use::

    from sandbox.web import WebConfig, build_web_tools

    tools = build_web_tools(WebConfig.from_env(mode="replay_strict", namespace="bench-v1"))
    results = tools.web_search(["best budget noise cancelling headphones"])
    pages = tools.web_visit([results[0].results[0].url], goal="battery life and price")
    print(tools.render(pages))

See ``docs/web.md`` for the cache modes, providers, corpus building and the CLI.
"""

from sandbox.retry import RetryPolicy
from sandbox.web.cache import CacheStats, WebCache
from sandbox.web.config import WebConfig, build_provider, build_web_tools, default_cache_path
from sandbox.web.corpus import CorpusDocument, LocalCorpus, build_corpus
from sandbox.web.errors import (
    CacheCorruptError,
    CacheMissError,
    ConfigurationError,
    FetchError,
    MissingKeyError,
    ProviderError,
    WebError,
)
from sandbox.web.evidence import EvidenceExtractor, SummaryRequest
from sandbox.web.extract import extract_html
from sandbox.web.fetch import FetchLimits, HttpFetcher
from sandbox.web.keys import CacheRequest, canonical_url, normalize_query
from sandbox.web.models import CacheMode, FetchedPage, PageEvidence, WebHit, WebSearchResult
from sandbox.web.providers import (
    BraveProvider,
    SearchProvider,
    SearxngProvider,
    SerperProvider,
    TavilyProvider,
)
from sandbox.web.tools import WebTools

__all__ = [
    "BraveProvider",
    "CacheCorruptError",
    "CacheMissError",
    "CacheMode",
    "CacheRequest",
    "CacheStats",
    "ConfigurationError",
    "CorpusDocument",
    "EvidenceExtractor",
    "FetchError",
    "FetchLimits",
    "FetchedPage",
    "HttpFetcher",
    "LocalCorpus",
    "MissingKeyError",
    "PageEvidence",
    "ProviderError",
    "RetryPolicy",
    "SearchProvider",
    "SearxngProvider",
    "SerperProvider",
    "SummaryRequest",
    "TavilyProvider",
    "WebCache",
    "WebConfig",
    "WebError",
    "WebHit",
    "WebSearchResult",
    "WebTools",
    "build_corpus",
    "build_provider",
    "build_web_tools",
    "canonical_url",
    "default_cache_path",
    "extract_html",
    "normalize_query",
]
