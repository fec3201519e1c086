"""Tavily: ``POST {base}/search`` with ``Authorization: Bearer <key>`` and JSON ``{"query", "max_results", ...}``.

Answer: ``{"query", "results": [{"title", "url", "content", "score"}, ...], ...}``.
"""

from __future__ import annotations

from typing import Any, Literal

from sandbox.web.keys import ParamValue
from sandbox.web.models import WebHit
from sandbox.web.providers.base import HttpSearchProvider


class TavilyProvider(HttpSearchProvider):
    name = "tavily"
    key_env = "TAVILY_API_KEY"
    url_env = "PRGYM_TAVILY_URL"
    default_base_url = "https://api.tavily.com"
    max_results = 20

    def __init__(self, *, search_depth: Literal["basic", "advanced"] = "basic", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.search_depth = search_depth

    def _request(self, query: str, num_results: int) -> tuple[str, str, dict[str, Any]]:
        body = {
            "query": query,
            "max_results": num_results,
            "search_depth": self.search_depth,
            "include_answer": False,
            "include_raw_content": False,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return "POST", f"{self.base_url}/search", {"json": body, "headers": headers}

    def _parse(self, data: Any) -> list[WebHit]:
        return self._hits(self._list_at(data, "results"), "url", "title", "content")

    def cache_params(self) -> dict[str, ParamValue]:
        return {"search_depth": self.search_depth}
