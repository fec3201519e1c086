"""Brave Search: ``GET {base}/res/v1/web/search?q=...&count=...`` with header ``X-Subscription-Token``.

Answer: ``{"type": "search", "web": {"results": [{"title", "url", "description"}, ...]}, ...}``; ``web`` is
absent when nothing was found. Descriptions mark matches with ``<strong>``, which is stripped.
"""

from __future__ import annotations

from typing import Any

from sandbox.web.keys import ParamValue
from sandbox.web.models import WebHit
from sandbox.web.providers.base import HttpSearchProvider


class BraveProvider(HttpSearchProvider):
    name = "brave"
    key_env = "BRAVE_API_KEY"
    key_env_aliases = ("BRAVE_SEARCH_API_KEY",)
    url_env = "PRGYM_BRAVE_URL"
    default_base_url = "https://api.search.brave.com"
    max_results = 20

    def __init__(self, *, country: str | None = None, search_lang: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.country, self.search_lang = country, search_lang

    def _request(self, query: str, num_results: int) -> tuple[str, str, dict[str, Any]]:
        params: dict[str, Any] = {"q": query, "count": num_results}
        if self.country:
            params["country"] = self.country
        if self.search_lang:
            params["search_lang"] = self.search_lang
        headers = {"X-Subscription-Token": self.api_key or "", "Accept": "application/json"}
        return "GET", f"{self.base_url}/res/v1/web/search", {"params": params, "headers": headers}

    def _parse(self, data: Any) -> list[WebHit]:
        if not isinstance(data, dict) or ("web" not in data and data.get("type") != "search"):
            raise self._format_error("expected a search answer with a 'web' section")
        return self._hits(
            self._list_at(data, "web", "results", missing_ok=True), "url", "title", "description"
        )

    def cache_params(self) -> dict[str, ParamValue]:
        return {"country": self.country, "search_lang": self.search_lang}
