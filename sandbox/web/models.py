"""Typed results of the web tools: what the agent reads, what the cache stores, what the env records.

Results carry no timestamps or timings, so a replayed episode produces byte-identical observations; when an
answer was stored is kept by the cache next to the payload instead.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from sandbox.web.quoting import quote_untrusted


class CacheMode(str, Enum):
    """How the web tools use the cache.

    ``live``: never read or write it. ``record``: always ask the live service and store the answer.
    ``replay``: answer from the cache, ask the live service on a miss and store that answer.
    ``replay_strict``: answer only from the cache; a miss is an error naming the request (training, benchmarks).
    """

    live = "live"
    record = "record"
    replay = "replay"
    replay_strict = "replay_strict"


class WebHit(BaseModel):
    """One search result."""

    model_config = ConfigDict(frozen=True)

    url: str
    title: str = ""
    snippet: str = ""


class WebSearchResult(BaseModel):
    """The answer to one query of a ``web_search`` call; ``error`` is set (and ``results`` empty) on failure."""

    query: str
    provider: str
    results: list[WebHit] = Field(default_factory=list)
    from_cache: bool = False
    error: str | None = None

    def render(self) -> str:
        """Text for the agent. Titles and snippets come from the web, so they are quoted as untrusted data."""
        if self.error:
            return f"web_search {self.query!r}: ERROR: {self.error}"
        if not self.results:
            return f"web_search {self.query!r}: no results"
        lines = [
            f"[{rank}] {hit.title}\n    url: {hit.url}\n    snippet: {hit.snippet}"
            for rank, hit in enumerate(self.results, 1)
        ]
        return f"web_search {self.query!r}: {len(self.results)} results\n" + quote_untrusted(
            "\n".join(lines), source="web_search results"
        )


class FetchedPage(BaseModel):
    """A page read and reduced to text: what the cache stores for a url (never the raw HTML).

    ``error`` is set when the page could not be read; permanent errors (404, binary content) are stored too, so a
    replay reproduces them, transient ones (timeouts, 5xx) are not.
    """

    url: str
    final_url: str = ""
    status: int | None = None
    content_type: str = ""
    title: str = ""
    text: str = ""
    truncated: bool = False
    error: str | None = None
    transient: bool = Field(default=False, description="The error may go away on retry; never cached.")


class PageEvidence(BaseModel):
    """What ``web_visit`` returns for one url: passages relevant to the goal and a summary.

    ``evidence`` and ``summary`` are derived from untrusted page text; :meth:`render` delimits them before they
    reach the agent.
    """

    url: str
    goal: str
    title: str = ""
    evidence: list[str] = Field(default_factory=list)
    summary: str = ""
    truncated: bool = False
    from_cache: bool = False
    error: str | None = None

    def render(self) -> str:
        """Text for the agent: a header we write, then the page-derived text inside untrusted-data delimiters."""
        if self.error:
            return f"web_visit {self.url}: ERROR: {self.error}"
        head = f"web_visit {self.url} (goal: {self.goal})"
        if self.truncated:
            head += " [page was larger than the size cap; only its beginning was read]"
        body = [f"Title: {self.title}"] if self.title else []
        if self.summary:
            body.append(f"Summary: {self.summary}")
        body.append("Evidence:")
        body.extend(f"- {passage}" for passage in self.evidence)
        if not self.evidence:
            body.append("- (no passage of the page matches the goal)")
        return head + "\n" + quote_untrusted("\n".join(body), url=self.url)
