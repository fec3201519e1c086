"""The SQLite web cache: storage, integrity, stats, export/import, keys and the four cache modes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from web_http import LocalHTTPServer, send, send_json

from sandbox.web import (
    CacheCorruptError,
    CacheMissError,
    CacheMode,
    CacheRequest,
    ConfigurationError,
    FetchLimits,
    HttpFetcher,
    SerperProvider,
    WebCache,
    WebTools,
    canonical_url,
    normalize_query,
)

KEY = "k"


def test_put_get_roundtrip_small_and_compressed(tmp_path: Path) -> None:
    with WebCache(tmp_path / "c.sqlite", "ns") as cache:
        small = CacheRequest.search("serper", "kettle")
        big = CacheRequest.page("https://shop.test/kettle")
        cache.put(small, {"results": [{"url": "https://a.test", "title": "A", "snippet": "s"}]}, now=100.0)
        cache.put(big, {"text": "Acme kettle 2200 W. " * 2000, "title": "Kettle"}, now=100.0)
        assert cache.get(small).payload["results"][0]["url"] == "https://a.test"
        assert cache.get(big).payload["text"].count("Acme kettle") == 2000
        assert cache.get(CacheRequest.search("serper", "toaster")) is None
        cache.put(small, {"results": []}, now=200.0)
        value = cache.get(small)
        assert value.payload == {"results": []}
        assert (value.created_at, value.updated_at) == (100.0, 200.0)
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        encodings = dict(conn.execute("SELECT kind, encoding FROM entries"))
        assert encodings == {"search": "json", "page": "json+zlib"}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_namespaces_are_separate(tmp_path: Path) -> None:
    request = CacheRequest.search("serper", "kettle")
    with (
        WebCache(tmp_path / "c.sqlite", "bench") as bench,
        WebCache(tmp_path / "c.sqlite", "scratch") as scratch,
    ):
        bench.put(request, {"v": 1})
        assert request in bench and request not in scratch
        scratch.put(request, {"v": 2})
        assert bench.get(request).payload == {"v": 1} and scratch.get(request).payload == {"v": 2}
    with pytest.raises(ConfigurationError):
        WebCache(tmp_path / "c.sqlite", " ")


def test_keys_normalize_queries_and_urls() -> None:
    assert normalize_query("  Best   KETTLE\t2024 ") == "best kettle 2024"
    assert (
        CacheRequest.search("serper", "Best Kettle").key()
        == CacheRequest.search("serper", " best  kettle").key()
    )
    assert CacheRequest.search("serper", "kettle").key() != CacheRequest.search("brave", "kettle").key()
    assert (
        CacheRequest.search("serper", "kettle", num=10).key()
        != CacheRequest.search("serper", "kettle", num=5).key()
    )
    assert (
        CacheRequest.search("s", "k", b=1, a=2).canonical_json()
        == CacheRequest.search("s", "k", a=2, b=1).canonical_json()
    )
    assert (
        canonical_url("HTTPS://Shop.Test:443/p?b=2&a=1&utm_source=x#reviews") == "https://shop.test/p?a=1&b=2"
    )
    assert canonical_url("http://shop.test") == "http://shop.test/"
    assert canonical_url("http://shop.test:8080/x") == "http://shop.test:8080/x"
    assert (
        CacheRequest.page("https://shop.test/p#top").key() == CacheRequest.page("https://SHOP.test/p").key()
    )
    described = CacheRequest.search("serper", "Red  Shoes", num=10).describe()
    assert described == "web_search query 'red shoes' (provider serper, num=10)"


def test_corruption_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    request = CacheRequest.search("serper", "kettle")
    with WebCache(path) as cache:
        cache.put(request, {"results": [{"url": "https://a.test"}]})
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE entries SET payload = CAST(? AS BLOB)", ('{"results":[{"url":"https://evil.test"}]}',)
        )
    with WebCache(path) as cache:
        with pytest.raises(CacheCorruptError, match="does not match its checksum"):
            cache.get(request)
        assert cache.verify() == [f"default/{request.key()}"]


def test_stats_count_hits_misses_and_size(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    request = CacheRequest.search("serper", "kettle")
    with WebCache(path, "ns") as cache:
        cache.get(request)
        cache.put(request, {"results": []})
        for _ in range(3):
            cache.get(request)
        cache.get(CacheRequest.page("https://a.test/"))
    with WebCache(path, "ns") as cache:  # counters were flushed on close and survive reopening
        stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (1, 3, 2)
    rows = {(k.namespace, k.kind): k for k in stats.kinds}
    assert rows[("ns", "search")].entries == 1 and rows[("ns", "page")].misses == 1
    assert stats.file_bytes > 0 and rows[("ns", "search")].payload_bytes > 0


def test_export_import_moves_a_frozen_cache(tmp_path: Path) -> None:
    source_path, export_path, target_path = (
        tmp_path / "a.sqlite",
        tmp_path / "frozen.sqlite",
        tmp_path / "b.sqlite",
    )
    requests = [CacheRequest.search("serper", f"query {i}") for i in range(20)]
    with WebCache(source_path, "bench") as source, WebCache(source_path, "other") as other:
        for i, request in enumerate(requests):
            source.put(request, {"i": i, "text": "x" * (i * 200)}, now=1000.0 + i)
        other.put(requests[0], {"other": True})
        assert source.export(export_path) == 20
        assert source.export(tmp_path / "all.sqlite", all_namespaces=True) == 21
    assert not list(tmp_path.glob(".*.tmp"))  # written aside, then renamed into place
    with WebCache(target_path, "bench") as target:
        target.put(requests[0], {"newer": True}, now=5000.0)  # newer than the exported answer
        target.put(requests[1], {"older": True}, now=1.0)
        report = target.import_file(export_path)
        assert (report.inserted, report.updated, report.skipped, report.corrupt) == (18, 1, 1, [])
        assert target.get(requests[0]).payload == {"newer": True}
        assert target.get(requests[1]).payload == {"i": 1, "text": "x" * 200}
        assert target.get(requests[19]).payload["i"] == 19
        assert target.import_file(export_path, overwrite=True).updated == 20
        assert target.get(requests[0]).payload["i"] == 0
        assert target.import_file(export_path, namespace="copy").inserted == 20
        copies = list(target.iter_entries("copy"))
        assert len(copies) == 20 and {request["kind"] for request, _ in copies} == {"search"}
        assert target.verify() == []


def test_import_rejects_foreign_and_reports_corrupt_files(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    exported = tmp_path / "frozen.sqlite"
    with WebCache(tmp_path / "a.sqlite") as cache:
        cache.put(CacheRequest.search("serper", "good"), {"ok": 1})
        cache.put(CacheRequest.search("serper", "bad"), {"ok": 2})
        cache.export(exported)
    with sqlite3.connect(exported) as conn:
        bad_key = CacheRequest.search("serper", "bad").key()
        conn.execute("UPDATE entries SET checksum = 'x' WHERE key = ?", (bad_key,))
    with WebCache(tmp_path / "b.sqlite") as target:
        with pytest.raises(ConfigurationError, match="not a prgym web cache file"):
            target.import_file(foreign)
        with pytest.raises(ConfigurationError, match="not found"):
            target.import_file(tmp_path / "missing.sqlite")
        report = target.import_file(exported)
        assert report.inserted == 1 and report.corrupt == [f"default/{bad_key}"]


# -- cache modes through the tools ------------------------------------------------------------------------------------


@pytest.fixture
def serper_server(http_server: LocalHTTPServer) -> LocalHTTPServer:
    state = {"fail": False}

    def search(h):
        if state["fail"]:
            send(h, 500, "down")
            return
        q = h.recorded.json()["q"]
        send_json(
            h, {"searchParameters": {"q": q}, "organic": [{"title": q, "link": f"https://r.test/{len(q)}"}]}
        )

    http_server.add("/search", search, method="POST")
    http_server.state = state  # type: ignore[attr-defined]
    return http_server


def _tools(server: LocalHTTPServer, cache: WebCache | None, mode: CacheMode) -> WebTools:
    provider = SerperProvider(api_key=KEY, base_url=server.url, env={}, sleep=lambda s: None)
    return WebTools(provider, [HttpFetcher(FetchLimits(allow_private=True))], cache=cache, mode=mode)


def _searches(server: LocalHTTPServer) -> int:
    return sum(1 for r in server.requests if r.path == "/search")


def test_mode_live_never_touches_the_cache(serper_server: LocalHTTPServer, tmp_path: Path) -> None:
    cache = WebCache(tmp_path / "c.sqlite")
    tools = _tools(serper_server, cache, CacheMode.live)
    tools.web_search(["kettle"])
    tools.web_search(["kettle"])
    assert _searches(serper_server) == 2 and cache.stats().entries == 0


def test_mode_record_always_asks_and_stores(serper_server: LocalHTTPServer, tmp_path: Path) -> None:
    cache = WebCache(tmp_path / "c.sqlite")
    tools = _tools(serper_server, cache, CacheMode.record)
    first, second = tools.web_search(["kettle"])[0], tools.web_search(["Kettle"])[0]
    assert _searches(serper_server) == 2 and not first.from_cache and not second.from_cache
    assert cache.stats().entries == 1


def test_mode_replay_asks_only_on_a_miss(serper_server: LocalHTTPServer, tmp_path: Path) -> None:
    tools = _tools(serper_server, WebCache(tmp_path / "c.sqlite"), CacheMode.replay)
    first, second = tools.web_search(["kettle", "  KETTLE "])
    assert _searches(serper_server) == 1
    assert not first.from_cache and second.from_cache
    assert first.results == second.results and second.query == "  KETTLE "


def test_mode_replay_strict_never_asks(serper_server: LocalHTTPServer, tmp_path: Path) -> None:
    cache = WebCache(tmp_path / "c.sqlite")
    _tools(serper_server, cache, CacheMode.record).web_search(["kettle"])
    strict = _tools(serper_server, cache, CacheMode.replay_strict)
    known, unknown = strict.web_search(["kettle", "toaster oven"])
    assert known.from_cache and known.results
    assert (
        unknown.error is not None and "'toaster oven'" in unknown.error and "replay_strict" in unknown.error
    )
    assert _searches(serper_server) == 1
    strict.raise_on_strict_miss = True
    with pytest.raises(CacheMissError, match="toaster oven"):
        strict.web_search(["toaster oven"])


def test_provider_failures_are_not_cached(serper_server: LocalHTTPServer, tmp_path: Path) -> None:
    cache = WebCache(tmp_path / "c.sqlite")
    tools = _tools(serper_server, cache, CacheMode.replay)
    serper_server.state["fail"] = True  # type: ignore[attr-defined]
    failed = tools.web_search(["kettle"])[0]
    assert failed.error is not None and "HTTP 500" in failed.error and failed.results == []
    serper_server.state["fail"] = False  # type: ignore[attr-defined]
    recovered = tools.web_search(["kettle"])[0]
    assert recovered.error is None and recovered.results and not recovered.from_cache


def test_modes_other_than_live_need_a_cache(serper_server: LocalHTTPServer) -> None:
    with pytest.raises(ConfigurationError, match="needs a cache"):
        _tools(serper_server, None, CacheMode.record)
