"""Search providers: live HTTP services (Serper, Tavily, Brave, SearXNG) behind one protocol.

The offline local-corpus provider is :class:`sandbox.web.corpus.LocalCorpus`.
"""

from __future__ import annotations

from sandbox.web.providers.base import HttpSearchProvider, SearchProvider, plain_text
from sandbox.web.providers.brave import BraveProvider
from sandbox.web.providers.searxng import SearxngProvider
from sandbox.web.providers.serper import SerperProvider
from sandbox.web.providers.tavily import TavilyProvider

LIVE_PROVIDERS: dict[str, type[HttpSearchProvider]] = {
    cls.name: cls for cls in (SerperProvider, TavilyProvider, BraveProvider, SearxngProvider)
}

__all__ = [
    "LIVE_PROVIDERS",
    "BraveProvider",
    "HttpSearchProvider",
    "SearchProvider",
    "SearxngProvider",
    "SerperProvider",
    "TavilyProvider",
    "plain_text",
]
