"""Normalized cache requests: the same question always maps to the same cache key.

A key is the sha256 of the canonical JSON of (provider, kind, normalized target, sorted params). Queries are
compared case- and whitespace-insensitively; urls by a canonical form (lowercase scheme and host, no default
port, no fragment, sorted query parameters without ``utm_*`` trackers). The normalized request is stored next
to the answer, so a cache can be inspected and a strict-replay miss can say exactly what was asked.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

RequestKind = Literal["search", "page", "summary"]
ParamValue = str | int | float | bool | None

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_query(query: str) -> str:
    """NFKC, case-folded, whitespace-collapsed form of a search query."""
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


def canonical_url(url: str) -> str:
    """A canonical spelling of ``url`` for cache keys (the page is still fetched at the url as given)."""
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return text
    host = parts.hostname.lower()
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    if parts.username or parts.password:
        host = f"{parts.username or ''}{':' + parts.password if parts.password else ''}@{host}"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("utm_")
    )
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query), ""))


class CacheRequest(BaseModel):
    """One normalized request: build it with :meth:`search`, :meth:`page` or :meth:`summary`."""

    model_config = ConfigDict(frozen=True)

    provider: str
    kind: RequestKind
    target: str
    params: dict[str, ParamValue] = {}

    @classmethod
    def search(cls, provider: str, query: str, **params: ParamValue) -> CacheRequest:
        return cls(provider=provider, kind="search", target=normalize_query(query), params=_sorted(params))

    @classmethod
    def page(cls, url: str, **params: ParamValue) -> CacheRequest:
        """Pages are keyed by url alone (plus reader params): the same page read for any goal is one entry."""
        return cls(provider="http", kind="page", target=canonical_url(url), params=_sorted(params))

    @classmethod
    def summary(cls, summarizer: str, url: str, goal: str, **params: ParamValue) -> CacheRequest:
        params = {**params, "goal": normalize_query(goal)}
        return cls(provider=summarizer, kind="summary", target=canonical_url(url), params=_sorted(params))

    def canonical_json(self) -> str:
        return json.dumps(
            {"provider": self.provider, "kind": self.kind, "target": self.target, "params": self.params},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )

    def key(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def describe(self) -> str:
        """Human-readable request, used in strict-replay miss messages."""
        what = {"search": "web_search query", "page": "web_visit url", "summary": "page summary of"}[
            self.kind
        ]
        extra = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if v is not None)
        return f"{what} {self.target!r} (provider {self.provider}{', ' + extra if extra else ''})"


def _sorted(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    return {k: params[k] for k in sorted(params)}
