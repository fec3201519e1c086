"""The agent's ``web_search`` and ``web_visit`` tools over a provider, page sources and the cache.

Every answer passes through the cache according to the :class:`~sandbox.web.models.CacheMode`, so a recorded
research session replays identically without network. Tool methods never raise: a failing query or page comes
back as a result with ``error`` set, which the env shows the agent (``raise_on_strict_miss`` makes strict
replay misses raise instead, for pipelines that must stop on an unrecorded request).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from sandbox.tools.schema import function_schema, validate_arguments
from sandbox.web.cache import WebCache
from sandbox.web.errors import CacheMissError, ConfigurationError, WebError
from sandbox.web.evidence import EvidenceExtractor, GoalEvidence, Summarizer, summarizer_name
from sandbox.web.keys import CacheRequest
from sandbox.web.models import CacheMode, FetchedPage, PageEvidence, WebHit, WebSearchResult
from sandbox.web.providers.base import SearchProvider


class PageSource(Protocol):
    """Something that can read a url: the local corpus (``None`` when the url is not in it) or the HTTP fetcher."""

    def read(self, url: str) -> FetchedPage | None: ...


class WebTools:
    """``web_search`` / ``web_visit`` for one agent, with their OpenAI schemas (:meth:`schemas`).

    Args:
        provider: Answers search queries (a live service or the local corpus); ``None`` for visit-only use.
        sources: Read pages, tried in order; the first that returns a page wins (put the corpus before HTTP).
        cache: The persistent cache; required for every mode but ``live``.
        mode: How the cache is used (see ``CacheMode``).
        summarizer: Optional LLM summarizer ``(SummaryRequest) -> str``; without it summaries are extractive.
        results_per_query: Hits asked of the provider per query.
        max_queries: Queries run per ``web_search`` call; the rest get an error result.
        max_urls: Pages read per ``web_visit`` call; the rest get an error result.
    """

    def __init__(
        self,
        provider: SearchProvider | None,
        sources: Sequence[PageSource],
        *,
        cache: WebCache | None = None,
        mode: CacheMode | str = CacheMode.replay,
        summarizer: Summarizer | Callable[..., str] | None = None,
        extractor: EvidenceExtractor | None = None,
        results_per_query: int = 10,
        max_queries: int = 5,
        max_urls: int = 5,
        raise_on_strict_miss: bool = False,
    ) -> None:
        self.mode = CacheMode(mode)
        if self.mode is not CacheMode.live and cache is None:
            raise ConfigurationError(f"cache mode {self.mode.value!r} needs a cache (or use mode 'live')")
        if not sources:
            raise ConfigurationError("web_visit needs at least one page source")
        self.provider = provider
        self.sources = list(sources)
        self.cache = cache
        self.summarizer = summarizer
        self.summarizer_name = summarizer_name(summarizer) if summarizer is not None else None
        self.extractor = extractor or EvidenceExtractor()
        self.results_per_query = results_per_query
        self.max_queries = max_queries
        self.max_urls = max_urls
        self.raise_on_strict_miss = raise_on_strict_miss

    @property
    def cache_namespace(self) -> str | None:
        """The namespace the env records as ``cache_namespace`` (``None`` without a cache)."""
        return self.cache.namespace if self.cache is not None else None

    # -- cache modes ---------------------------------------------------------------------------------------------------

    def _through_cache(
        self,
        request: CacheRequest,
        compute: Callable[[], dict[str, Any]],
        storable: Callable[[dict[str, Any]], bool],
    ) -> tuple[dict[str, Any], bool]:
        """``(payload, from_cache)`` for ``request`` under the cache mode."""
        if self.cache is None or self.mode is CacheMode.live:
            return compute(), False
        if self.mode in (CacheMode.replay, CacheMode.replay_strict):
            hit = self.cache.get(request)
            if hit is not None:
                return hit.payload, True
            if self.mode is CacheMode.replay_strict:
                raise CacheMissError(request.describe(), request.key())
        payload = compute()
        if storable(payload):
            self.cache.put(request, payload)
        return payload, False

    # -- web_search ------------------------------------------------------------------------------------------------------

    def web_search(self, queries: list[str]) -> list[WebSearchResult]:
        """Search the web. For each query returns the top results: url, title and a short snippet.

        Args:
            queries: One or more search queries (short keyword phrases); each is searched separately. At most 5
                per call.
        """
        if isinstance(queries, str):
            queries = [queries]
        if not queries:
            return [
                WebSearchResult(
                    query="",
                    provider=self.provider_name,
                    error=f"queries is empty: give 1 to {self.max_queries} search queries",
                )
            ]
        results = []
        for position, query in enumerate(queries):
            if position >= self.max_queries:
                results.append(
                    WebSearchResult(
                        query=str(query),
                        provider=self.provider_name,
                        error=f"not run: at most {self.max_queries} queries per call ({len(queries)} given); "
                        "call web_search again with the rest",
                    )
                )
                continue
            results.append(self._search_one(query))
        return results

    @property
    def provider_name(self) -> str:
        return self.provider.name if self.provider is not None else "none"

    def _search_one(self, query: Any) -> WebSearchResult:
        name = self.provider_name
        if self.provider is None:
            return WebSearchResult(
                query=str(query), provider=name, error="no web search provider is configured"
            )
        provider = self.provider
        if not isinstance(query, str) or not query.strip():
            return WebSearchResult(
                query=str(query), provider=name, error="each query must be a non-empty string"
            )
        request = CacheRequest.search(name, query, num=self.results_per_query, **provider.cache_params())

        def compute() -> dict[str, Any]:
            hits = provider.search(query, self.results_per_query)
            return {"results": [hit.model_dump() for hit in hits]}

        try:
            payload, from_cache = self._through_cache(request, compute, lambda _: True)
        except CacheMissError as exc:
            if self.raise_on_strict_miss:
                raise
            return WebSearchResult(query=query, provider=name, error=str(exc))
        except WebError as exc:
            return WebSearchResult(query=query, provider=name, error=str(exc))
        except Exception as exc:  # the tool boundary: the agent gets an error result, the episode goes on
            return WebSearchResult(
                query=query, provider=name, error=f"internal error: {type(exc).__name__}: {exc}"
            )
        hits = [WebHit.model_validate(hit) for hit in payload.get("results", [])]
        return WebSearchResult(query=query, provider=name, results=hits, from_cache=from_cache)

    # -- web_visit -------------------------------------------------------------------------------------------------------

    def web_visit(self, urls: list[str], goal: str) -> list[PageEvidence]:
        """Read web pages and return the evidence on each that bears on your goal, plus a short summary.

        Args:
            urls: Page addresses (http or https), for example from web_search results. At most 5 per call.
            goal: What you want to learn from the pages, e.g. "battery life and price of the X100 headphones".
        """
        if isinstance(urls, str):
            urls = [urls]
        if not urls:
            return [
                PageEvidence(url="", goal=goal, error=f"urls is empty: give 1 to {self.max_urls} page urls")
            ]
        out = []
        for position, url in enumerate(urls):
            if position >= self.max_urls:
                out.append(
                    PageEvidence(
                        url=str(url),
                        goal=goal,
                        error=f"not read: at most {self.max_urls} urls per call ({len(urls)} given); "
                        "call web_visit again with the rest",
                    )
                )
                continue
            out.append(self._visit_one(url, goal))
        return out

    def _read_page(self, url: str) -> FetchedPage:
        for source in self.sources:
            page = source.read(url)
            if page is not None:
                return page
        return FetchedPage(url=url, error="no page source can read this url")

    def _visit_one(self, url: Any, goal: str) -> PageEvidence:
        if not isinstance(url, str) or not url.strip():
            return PageEvidence(url=str(url), goal=goal, error="each url must be a non-empty string")
        url = url.strip()
        try:
            payload, from_cache = self._through_cache(
                CacheRequest.page(url),
                lambda: self._read_page(url).model_dump(),
                lambda page: not page.get("transient", False),
            )
            page = FetchedPage.model_validate(payload)
            if page.error:
                return PageEvidence(url=url, goal=goal, error=page.error, from_cache=from_cache)
            evidence = self.extractor.evidence(page, goal)
            summary, summary_cached = self._summary(page, goal, evidence)
        except CacheMissError as exc:
            if self.raise_on_strict_miss:
                raise
            return PageEvidence(url=url, goal=goal, error=str(exc))
        except WebError as exc:
            return PageEvidence(url=url, goal=goal, error=str(exc))
        except Exception as exc:  # the tool boundary
            return PageEvidence(url=url, goal=goal, error=f"internal error: {type(exc).__name__}: {exc}")
        return PageEvidence(
            url=url,
            goal=goal,
            title=page.title,
            evidence=evidence.passages,
            summary=summary,
            truncated=page.truncated,
            from_cache=from_cache and summary_cached,
        )

    def _summary(self, page: FetchedPage, goal: str, evidence: GoalEvidence) -> tuple[str, bool]:
        if self.summarizer is None or not evidence.passages:
            return self.extractor.extractive_summary(page, goal, evidence), True
        summarizer = self.summarizer
        request = CacheRequest.summary(self.summarizer_name or "summarizer", page.url, goal)

        def compute() -> dict[str, Any]:
            try:
                return {
                    "summary": str(summarizer(self.extractor.summary_request(page, goal, evidence))),
                    "ok": True,
                }
            # An LLM outage must not cost the agent the page: fall back to extractive, and do not cache that.
            except Exception as exc:
                fallback = self.extractor.extractive_summary(page, goal, evidence)
                return {"summary": f"{fallback} (LLM summary unavailable: {type(exc).__name__})", "ok": False}

        payload, from_cache = self._through_cache(request, compute, lambda p: bool(p.get("ok")))
        return str(payload.get("summary", "")), from_cache

    # -- schemas and dispatch ------------------------------------------------------------------------------------------

    @property
    def functions(self) -> dict[str, Callable[..., list[Any]]]:
        return {"web_search": self.web_search, "web_visit": self.web_visit}

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI tool schemas of ``web_search`` and ``web_visit``, with this instance's per-call limits."""
        search = function_schema(self.web_search)
        search["function"]["parameters"]["properties"]["queries"].update(
            minItems=1, maxItems=self.max_queries
        )
        visit = function_schema(self.web_visit)
        visit["function"]["parameters"]["properties"]["urls"].update(minItems=1, maxItems=self.max_urls)
        return [search, visit]

    def call(self, name: str, arguments: dict[str, Any]) -> list[BaseModel]:
        """Run tool ``name`` with JSON ``arguments``; raises ``KeyError`` for an unknown tool and
        ``pydantic.ValidationError`` (naming the field) for bad arguments, which the env reports to the agent."""
        function = self.functions[name]
        return list(function(**validate_arguments(function, arguments)))

    def close(self) -> None:
        """Flush the cache counters and close the cache, the page sources and the provider."""
        if self.cache is not None:
            self.cache.close()
        for owner in (*self.sources, self.provider):
            close = getattr(owner, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> WebTools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def render(results: Sequence[WebSearchResult | PageEvidence]) -> str:
        """The observation text of a tool call: each result rendered, untrusted text delimited."""
        return "\n\n".join(result.render() for result in results)
