"""SearXNG (self-hosted metasearch): ``GET {base}/search?q=...&format=json``; no key unless the instance wants one.

Answer: ``{"query", "number_of_results", "results": [{"url", "title", "content", "engine", ...}, ...]}``. The
instance must have the JSON format enabled (``search.formats`` in its settings), otherwise it answers 403.
"""

from __future__ import annotations

from typing import Any

from sandbox.web.keys import ParamValue
from sandbox.web.models import WebHit
from sandbox.web.providers.base import HttpSearchProvider


class SearxngProvider(HttpSearchProvider):
    name = "searxng"
    key_env = "SEARXNG_API_KEY"
    key_required = False
    url_env = "SEARXNG_URL"
    default_base_url = None
    max_results = 50

    def __init__(self, *, categories: str = "general", language: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.categories, self.language = categories, language

    def _request(self, query: str, num_results: int) -> tuple[str, str, dict[str, Any]]:
        params: dict[str, Any] = {"q": query, "format": "json", "categories": self.categories}
        if self.language:
            params["language"] = self.language
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return "GET", f"{self.base_url}/search", {"params": params, "headers": headers}

    def _parse(self, data: Any) -> list[WebHit]:
        return self._hits(self._list_at(data, "results"), "url", "title", "content")

    def cache_params(self) -> dict[str, ParamValue]:
        return {"categories": self.categories, "language": self.language}
