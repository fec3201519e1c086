"""The search-provider contract and the shared machinery of live HTTP providers.

A provider turns one query into ranked :class:`~sandbox.web.models.WebHit` s. Live providers share: the API key
from an argument or an environment variable (a clear error naming the variable when it is missing), a base url
that configuration can point elsewhere (a proxy, or a local server in tests), timeouts, and retries with
backoff on 429/5xx/connection errors. Each concrete provider only says how to build its request and how to
read its documented response format.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
import lxml.etree
import lxml.html

from sandbox.retry import Retrier, RetryExhausted, RetryPolicy
from sandbox.web.errors import ConfigurationError, MissingKeyError, ProviderError
from sandbox.web.keys import ParamValue
from sandbox.web.models import WebHit

USER_AGENT = "prgym-web/0.1 (research sandbox; +https://github.com/prgym)"


@runtime_checkable
class SearchProvider(Protocol):
    """Anything that answers web queries: live services and the local corpus alike."""

    @property
    def name(self) -> str:
        """The provider's name (read-only: live providers set it as a class variable, the corpus per instance)."""
        ...

    def search(self, query: str, num_results: int = 10) -> list[WebHit]:
        """Ranked hits for ``query``, at most ``num_results``; raises ``ProviderError`` on failure."""
        ...

    def cache_params(self) -> dict[str, ParamValue]:
        """Settings that change the answers (country, depth, corpus id, ...); they become part of cache keys."""
        ...


def plain_text(fragment: object) -> str:
    """Snippet text without HTML tags or entities (Brave, SearXNG and others mark matches with ``<strong>``)."""
    if not isinstance(fragment, str):
        return ""
    text = fragment.strip()
    if not text:
        return ""
    if "<" in text or "&" in text:
        with contextlib.suppress(ValueError, lxml.etree.ParserError):
            text = lxml.html.fragment_fromstring(text, create_parent="div").text_content()
    return " ".join(text.split())


class HttpSearchProvider:
    """Base class of live providers; subclasses set the class variables and implement the two hooks."""

    name: ClassVar[str]
    key_env: ClassVar[str | None] = None  # environment variable holding the API key; None: no key needed
    key_env_aliases: ClassVar[tuple[str, ...]] = ()  # other names the same key is commonly exported under
    key_required: ClassVar[bool] = True
    url_env: ClassVar[str]  # environment variable overriding the base url
    default_base_url: ClassVar[str | None]
    max_results: ClassVar[int] = 20

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        client: httpx.Client | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        names = ((self.key_env,) if self.key_env else ()) + self.key_env_aliases
        self.api_key = api_key or next((env[n] for n in names if env.get(n)), None)
        if self.key_required and not self.api_key:
            raise MissingKeyError(self.name, self.key_env or "?")
        base = base_url or env.get(self.url_env) or self.default_base_url
        if not base:
            raise ConfigurationError(
                f"{self.name} search needs the address of a server: set the environment variable {self.url_env} "
                f"(or pass base_url=...)"
            )
        if not base.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"{self.name}: base url must start with http:// or https://, got {base!r}"
            )
        self.base_url = base.rstrip("/")
        self.timeout_s = timeout_s
        self._owns_client = client is None
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout_s), headers={"User-Agent": USER_AGENT}, follow_redirects=False
        )
        self._retrier = Retrier(retry, sleep=sleep)

    # -- hooks ------------------------------------------------------------------------------------------------------

    def _request(self, query: str, num_results: int) -> tuple[str, str, dict[str, Any]]:
        """``(method, url, httpx keyword arguments)`` of the documented search request."""
        raise NotImplementedError

    def _parse(self, data: Any) -> list[WebHit]:
        """Hits from the decoded JSON body; raise ``ProviderError`` when it is not the documented format."""
        raise NotImplementedError

    def cache_params(self) -> dict[str, ParamValue]:
        return {}

    # -- shared -----------------------------------------------------------------------------------------------------

    def search(self, query: str, num_results: int = 10) -> list[WebHit]:
        if not query.strip():
            raise ProviderError(self.name, "the query is empty")
        count = max(1, min(num_results, self.max_results))
        method, url, kwargs = self._request(query.strip(), count)
        try:
            response = self._retrier.send(self._client, method, url, **kwargs)
        except RetryExhausted as exc:
            status = exc.last_response.status_code if exc.last_response is not None else None
            raise ProviderError(
                self.name, f"request to {url} failed: {exc}", status=status, transient=True
            ) from exc
        code = response.status_code
        if code in (401, 403):
            hint = f"; check {self.key_env}" if self.key_env else ""
            raise ProviderError(
                self.name, f"the server rejected the credentials (HTTP {code}){hint}", status=code
            )
        if code >= 400:
            raise ProviderError(self.name, f"HTTP {code} from {url}: {response.text[:200]!r}", status=code)
        try:
            data = response.json()
        except ValueError as exc:
            kind = response.headers.get("content-type", "no content type")
            raise ProviderError(
                self.name, f"the answer is not JSON ({kind}): {response.text[:120]!r}"
            ) from exc
        return self._parse(data)[:count]

    def _format_error(self, what: str) -> ProviderError:
        return ProviderError(self.name, f"unexpected response format: {what}")

    def _list_at(self, data: Any, *path: str, missing_ok: bool = False) -> list[Any]:
        """The list at ``data[path[0]][path[1]]...``; an absent key gives ``[]`` when ``missing_ok``."""
        node = data
        for depth, key in enumerate(path):
            if not isinstance(node, dict):
                raise self._format_error(f"expected an object at {'.'.join(path[:depth]) or 'top level'}")
            if key not in node:
                if missing_ok:
                    return []
                raise self._format_error(f"no {'.'.join(path[: depth + 1])!r} in the answer")
            node = node[key]
        if not isinstance(node, list):
            raise self._format_error(f"{'.'.join(path)!r} is {type(node).__name__}, expected a list")
        return node

    def _hits(self, items: list[Any], url_key: str, title_key: str, snippet_key: str) -> list[WebHit]:
        hits = []
        for item in items:
            if not isinstance(item, dict):
                continue
            url = item.get(url_key)
            if not isinstance(url, str) or not url.strip():
                continue
            hits.append(
                WebHit(
                    url=url.strip(),
                    title=plain_text(item.get(title_key)),
                    snippet=plain_text(item.get(snippet_key)),
                )
            )
        return hits

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpSearchProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
