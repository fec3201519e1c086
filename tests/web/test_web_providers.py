"""Live providers against local servers that speak each service's documented request / response format."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from web_http import LocalHTTPServer, send, send_json

from sandbox.retry import Retrier, parse_retry_after
from sandbox.web import (
    BraveProvider,
    MissingKeyError,
    ProviderError,
    RetryPolicy,
    SearxngProvider,
    SerperProvider,
    TavilyProvider,
    WebConfig,
    build_provider,
)
from sandbox.web.errors import ConfigurationError

KEY = "test-key-123"


def _results(query: str, count: int) -> list[tuple[str, str, str]]:
    return [
        (f"https://shop{i}.test/{query.replace(' ', '-')}", f"{query} result {i}", f"snippet {i}")
        for i in range(count)
    ]


def serve_serper(server: LocalHTTPServer) -> None:
    def handler(h):
        if h.headers.get("X-API-KEY") != KEY:
            send_json(h, {"message": "Unauthorized.", "statusCode": 403}, status=403)
            return
        body = h.recorded.json()
        rows = _results(body["q"], body.get("num", 10))
        send_json(
            h,
            {
                "searchParameters": {"q": body["q"], "type": "search", "num": body.get("num", 10)},
                "organic": [
                    {"title": t, "link": u, "snippet": s, "position": i + 1}
                    for i, (u, t, s) in enumerate(rows)
                ],
            },
        )

    server.add("/search", handler, method="POST")


def serve_tavily(server: LocalHTTPServer) -> None:
    def handler(h):
        if h.headers.get("Authorization") != f"Bearer {KEY}":
            send_json(h, {"detail": {"error": "Unauthorized: missing or invalid API key."}}, status=401)
            return
        body = h.recorded.json()
        rows = _results(body["query"], body.get("max_results", 5))
        send_json(
            h,
            {
                "query": body["query"],
                "answer": None,
                "results": [
                    {"title": t, "url": u, "content": s, "score": 0.9 - i / 100}
                    for i, (u, t, s) in enumerate(rows)
                ],
                "response_time": 0.5,
            },
        )

    server.add("/search", handler, method="POST")


def serve_brave(server: LocalHTTPServer) -> None:
    def handler(h):
        if h.headers.get("X-Subscription-Token") != KEY:
            send_json(
                h, {"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID"}}, status=401
            )
            return
        query = h.recorded.query["q"][0]
        rows = _results(query, int(h.recorded.query.get("count", ["20"])[0]))
        send_json(
            h,
            {
                "type": "search",
                "query": {"original": query},
                "web": {
                    "type": "search",
                    "results": [
                        {"title": t, "url": u, "description": f"<strong>{query}</strong> {s} &amp; more"}
                        for u, t, s in rows
                    ],
                },
            },
        )

    server.add("/res/v1/web/search", handler)


def serve_searxng(server: LocalHTTPServer) -> None:
    def handler(h):
        if h.recorded.query.get("format") != ["json"]:
            send(h, 403, "Forbidden")
            return
        query = h.recorded.query["q"][0]
        rows = _results(query, 25)
        send_json(
            h,
            {
                "query": query,
                "number_of_results": len(rows),
                "results": [{"url": u, "title": t, "content": s, "engine": "duckduckgo"} for u, t, s in rows],
                "answers": [],
                "infoboxes": [],
            },
        )

    server.add("/search", handler)


PROVIDERS = {
    "serper": (SerperProvider, serve_serper),
    "tavily": (TavilyProvider, serve_tavily),
    "brave": (BraveProvider, serve_brave),
    "searxng": (SearxngProvider, serve_searxng),
}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_provider_speaks_the_documented_format(http_server: LocalHTTPServer, name: str) -> None:
    cls, serve = PROVIDERS[name]
    serve(http_server)
    with cls(api_key=KEY, base_url=http_server.url, env={}, timeout_s=2) as provider:
        hits = provider.search("  trail running shoes ", 3)
    assert [hit.url for hit in hits] == [f"https://shop{i}.test/trail-running-shoes" for i in range(3)]
    assert hits[0].title == "trail running shoes result 0"
    assert hits[0].snippet.startswith("trail running shoes snippet 0" if name == "brave" else "snippet 0")
    request = http_server.requests[-1]
    if name == "serper":
        assert request.method == "POST" and request.path == "/search"
        assert request.json() == {"q": "trail running shoes", "num": 3}
        assert request.headers["content-type"] == "application/json"
    elif name == "tavily":
        assert request.method == "POST" and request.path == "/search"
        assert request.json()["query"] == "trail running shoes" and request.json()["max_results"] == 3
    elif name == "brave":
        assert request.method == "GET" and request.query["q"] == ["trail running shoes"]
        assert request.query["count"] == ["3"]
        assert hits[0].snippet == "trail running shoes snippet 0 & more"  # <strong> and &amp; stripped
    else:
        assert request.query["format"] == ["json"]


@pytest.mark.parametrize("name", ["serper", "tavily", "brave"])
def test_wrong_key_is_a_clear_error(http_server: LocalHTTPServer, name: str) -> None:
    cls, serve = PROVIDERS[name]
    serve(http_server)
    with (
        cls(api_key="wrong", base_url=http_server.url, env={}) as provider,
        pytest.raises(ProviderError) as info,
    ):
        provider.search("kettle")
    assert f"check {cls.key_env}" in str(info.value)
    assert info.value.status in (401, 403) and not info.value.transient


@pytest.mark.parametrize("name", ["serper", "tavily", "brave"])
def test_missing_key_names_the_environment_variable(name: str) -> None:
    cls, _ = PROVIDERS[name]
    with pytest.raises(MissingKeyError) as info:
        cls(env={})
    assert cls.key_env in str(info.value)
    assert info.value.env_var == cls.key_env


def test_keys_and_base_urls_come_from_the_environment(http_server: LocalHTTPServer) -> None:
    serve_brave(http_server)
    env = {"BRAVE_SEARCH_API_KEY": KEY, "PRGYM_BRAVE_URL": http_server.url}
    provider = build_provider(WebConfig(provider="brave"), env=env)
    assert provider.base_url == http_server.url
    assert len(provider.search("kettle", 2)) == 2


def test_searxng_needs_an_address() -> None:
    with pytest.raises(ConfigurationError, match="SEARXNG_URL"):
        SearxngProvider(env={})
    with pytest.raises(ConfigurationError, match="unknown web search provider 'bing'"):
        build_provider(WebConfig(provider="bing"), env={})


def test_retry_after_is_honoured(http_server: LocalHTTPServer) -> None:
    calls = {"n": 0}

    def flaky(h):
        calls["n"] += 1
        if calls["n"] == 1:
            send_json(h, {"message": "Too many requests"}, status=429, headers={"Retry-After": "3"})
        else:
            send_json(
                h,
                {
                    "searchParameters": {"q": "x"},
                    "organic": [{"title": "t", "link": "https://a.test/", "snippet": "s"}],
                },
            )

    http_server.add("/search", flaky, method="POST")
    waits: list[float] = []
    provider = SerperProvider(api_key=KEY, base_url=http_server.url, env={}, sleep=waits.append)
    assert [hit.url for hit in provider.search("x")] == ["https://a.test/"]
    assert waits == [3.0]


def test_backoff_is_exponential_with_seeded_jitter(http_server: LocalHTTPServer) -> None:
    http_server.add("/search", lambda h: send(h, 503, "busy"), method="POST")
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.5, max_delay_s=8, jitter=0.25, seed=7)
    runs = []
    for _ in range(2):
        waits: list[float] = []
        provider = SerperProvider(
            api_key=KEY, base_url=http_server.url, env={}, retry=policy, sleep=waits.append
        )
        with pytest.raises(ProviderError) as info:
            provider.search("kettle")
        assert info.value.transient and info.value.status == 503
        assert "HTTP 503 after 4 attempt(s)" in str(info.value)
        runs.append(waits)
    assert runs[0] == runs[1]  # same seed, same waits
    assert len(runs[0]) == 3
    for attempt, wait in enumerate(runs[0], 1):
        nominal = 0.5 * 2 ** (attempt - 1)
        assert nominal * 0.75 <= wait <= nominal  # jitter=0.25: the last quarter of the wait is random
    assert len(http_server.requests) == 8


def test_connection_errors_are_retried_then_reported() -> None:
    server = LocalHTTPServer().start()
    url = server.url
    server.stop()
    waits: list[float] = []
    provider = TavilyProvider(
        api_key=KEY, base_url=url, env={}, sleep=waits.append, retry=RetryPolicy(max_attempts=3)
    )
    with pytest.raises(ProviderError) as info:
        provider.search("kettle")
    assert "ConnectError after 3 attempt(s)" in str(info.value) and info.value.transient
    assert len(waits) == 2


def test_retry_after_longer_than_allowed_gives_up(http_server: LocalHTTPServer) -> None:
    http_server.add(
        "/search", lambda h: send_json(h, {}, status=429, headers={"Retry-After": "3600"}), method="POST"
    )
    provider = SerperProvider(api_key=KEY, base_url=http_server.url, env={}, sleep=lambda s: None)
    with pytest.raises(ProviderError, match="Retry-After 3600 s"):
        provider.search("kettle")
    assert len(http_server.requests) == 1


def test_undocumented_answers_are_format_errors(http_server: LocalHTTPServer) -> None:
    http_server.add("/search", lambda h: send_json(h, {"results": "nope"}), method="POST")
    http_server.add("/res/v1/web/search", lambda h: send(h, 200, "<html>not json</html>"))
    with pytest.raises(ProviderError, match="unexpected response format: 'results' is str"):
        TavilyProvider(api_key=KEY, base_url=http_server.url, env={}).search("x")
    with pytest.raises(ProviderError, match="unexpected response format: no 'organic'"):
        SerperProvider(api_key=KEY, base_url=http_server.url, env={}).search("x")
    with pytest.raises(ProviderError, match="not JSON"):
        BraveProvider(api_key=KEY, base_url=http_server.url, env={}).search("x")


def test_no_results_is_an_empty_list(http_server: LocalHTTPServer) -> None:
    http_server.add("/search", lambda h: send_json(h, {"searchParameters": {"q": "zzz"}}), method="POST")
    http_server.add(
        "/res/v1/web/search", lambda h: send_json(h, {"type": "search", "query": {"original": "zzz"}})
    )
    assert SerperProvider(api_key=KEY, base_url=http_server.url, env={}).search("zzz") == []
    assert BraveProvider(api_key=KEY, base_url=http_server.url, env={}).search("zzz") == []


def test_parse_retry_after_forms() -> None:
    from datetime import datetime, timezone

    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
    assert Retrier(RetryPolicy(seed=1)).backoff(1) == Retrier(RetryPolicy(seed=1)).backoff(1)


def test_recorded_requests_are_valid_json_for_post_providers(http_server: LocalHTTPServer) -> None:
    serve_tavily(http_server)
    TavilyProvider(api_key=KEY, base_url=http_server.url + "/", env={}).search("espresso grinder", 2)
    request = http_server.requests[-1]
    assert (
        urlsplit(http_server.url + request.path).path == "/search"
    )  # trailing slash of the base url dropped
    assert json.loads(request.body)["search_depth"] == "basic"


def test_config_from_environment(tmp_path: Path) -> None:
    from sandbox.web import default_cache_path

    env = {
        "PRGYM_CORPUS_DIR": str(tmp_path),
        "PRGYM_WEB_CACHE_MODE": "replay_strict",
        "PRGYM_CACHE_DIR": "/c",
    }
    config = WebConfig.from_env(env)
    assert (config.provider, config.mode.value, config.namespace) == ("corpus", "replay_strict", "default")
    assert config.cache_path == Path("/c/web_cache.sqlite") == default_cache_path(env)
    overridden = WebConfig.from_env({**env, "PRGYM_WEB_PROVIDER": "brave"}, namespace="bench", mode=None)
    assert (overridden.provider, overridden.namespace, overridden.mode.value) == (
        "brave",
        "bench",
        "replay_strict",
    )
    with pytest.raises(ValueError, match="mode"):
        WebConfig.from_env({"PRGYM_WEB_CACHE_MODE": "sometimes"})
