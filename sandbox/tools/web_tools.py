"""``web_search`` / ``web_visit`` for the env, over any object that satisfies :class:`WebToolProvider`.

The env does not build web search itself: it takes a provider (normally :class:`sandbox.web.WebTools`, with its
local corpus or live service and its SQLite cache) through this small protocol, so it works with any web
tool, or with none (then the web tools are simply not offered). Results keep the provider's rendering, which
wraps page-derived text in untrusted-data markers; the typed results stay available to the supervisor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Protocol, runtime_checkable

from pydantic import Field

from sandbox.tools.registry import ErrorKind, ToolResult

MAX_WEB_ITEMS = 10
MAX_WEB_TEXT = 2_000


@runtime_checkable
class WebResult(Protocol):
    """One query's or one page's result: ``error`` is set on failure; ``render()`` is the agent's text."""

    error: str | None

    def render(self) -> str: ...


@runtime_checkable
class WebToolProvider(Protocol):
    """What the env needs from a web tool (``sandbox.web.WebTools`` implements it)."""

    @property
    def cache_namespace(self) -> str | None: ...

    def web_search(self, queries: list[str]) -> Sequence[WebResult]: ...

    def web_visit(self, urls: list[str], goal: str) -> Sequence[WebResult]: ...


class WebCallResult(ToolResult):
    """The results of one web call; the observation is the provider's rendering of them."""

    model_config = {"arbitrary_types_allowed": True}

    items: list[Any]
    rendered: str

    def to_content(self) -> str:
        return self.rendered

    def partial_error(self) -> tuple[ErrorKind, str] | None:
        errors = [str(item.error) for item in self.items if getattr(item, "error", None)]
        if errors and len(errors) == len(self.items):
            return "tool_error", errors[0]
        return None

    def urls(self) -> list[str]:
        """Every url this call showed the agent (search hits and pages read)."""
        out: list[str] = []
        for item in self.items:
            for hit in getattr(item, "results", None) or []:
                url = getattr(hit, "url", None)
                if url:
                    out.append(url)
            url = getattr(item, "url", None)
            if url and not getattr(item, "error", None):
                out.append(url)
        return out


class WebToolAdapter:
    """Typed ``web_search`` / ``web_visit`` tool functions delegating to a :class:`WebToolProvider`."""

    def __init__(self, provider: WebToolProvider) -> None:
        self.provider = provider

    @property
    def cache_namespace(self) -> str | None:
        return self.provider.cache_namespace

    def _wrap(self, items: Sequence[WebResult]) -> WebCallResult:
        items = list(items)
        return WebCallResult(items=items, rendered="\n\n".join(item.render() for item in items))

    def web_search(
        self,
        queries: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=MAX_WEB_TEXT)]],
            Field(min_length=1, max_length=MAX_WEB_ITEMS),
        ],
    ) -> WebCallResult:
        """Search the web. For each query returns the top results: url, title and a short snippet.

        Args:
            queries: One or more short keyword queries; each is searched separately.
        """
        return self._wrap(self.provider.web_search(list(queries)))

    def web_visit(
        self,
        urls: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=MAX_WEB_TEXT)]],
            Field(min_length=1, max_length=MAX_WEB_ITEMS),
        ],
        goal: Annotated[str, Field(min_length=1, max_length=MAX_WEB_TEXT)],
    ) -> WebCallResult:
        """Read web pages and return the evidence on each that bears on your goal, plus a short summary.

        Args:
            urls: Page addresses (http or https), for example from web_search results.
            goal: What you want to learn from the pages.
        """
        return self._wrap(self.provider.web_visit(list(urls), goal))
