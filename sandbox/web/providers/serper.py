"""Serper (Google results): ``POST {base}/search`` with header ``X-API-KEY`` and JSON ``{"q", "num"}``.

Answer: ``{"organic": [{"title", "link", "snippet", "position"}, ...], "searchParameters": {...}}``.
"""

from __future__ import annotations

from typing import Any

from sandbox.web.keys import ParamValue
from sandbox.web.models import WebHit
from sandbox.web.providers.base import HttpSearchProvider


class SerperProvider(HttpSearchProvider):
    name = "serper"
    key_env = "SERPER_API_KEY"
    url_env = "PRGYM_SERPER_URL"
    default_base_url = "https://google.serper.dev"
    max_results = 100

    def __init__(self, *, gl: str | None = None, hl: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gl, self.hl = gl, hl

    def _request(self, query: str, num_results: int) -> tuple[str, str, dict[str, Any]]:
        body: dict[str, Any] = {"q": query, "num": num_results}
        if self.gl:
            body["gl"] = self.gl
        if self.hl:
            body["hl"] = self.hl
        return "POST", f"{self.base_url}/search", {"json": body, "headers": {"X-API-KEY": self.api_key or ""}}

    def _parse(self, data: Any) -> list[WebHit]:
        # No "organic" key is how Serper says "nothing found", as long as the answer is a search answer.
        missing_ok = isinstance(data, dict) and "searchParameters" in data
        return self._hits(self._list_at(data, "organic", missing_ok=missing_ok), "link", "title", "snippet")

    def cache_params(self) -> dict[str, ParamValue]:
        return {"gl": self.gl, "hl": self.hl}
