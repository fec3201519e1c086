"""`prgym web ...` end to end: build a corpus, search and visit through the cache, stats, export and import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from web_http import LocalHTTPServer, send

from harness.cli import app

CLEAN_ENV = {
    "PRGYM_WEB_PROVIDER": None,
    "PRGYM_CORPUS_DIR": None,
    "PRGYM_WEB_CACHE_MODE": None,
    "PRGYM_WEB_NAMESPACE": None,
    "SERPER_API_KEY": None,
}


def _run(args: list[str], **env: str) -> object:
    result = CliRunner().invoke(app, args, env={**CLEAN_ENV, **env})
    return result


def test_corpus_search_stats_export_import(tmp_path: Path) -> None:
    src = tmp_path / "docs.jsonl"
    src.write_text(
        json.dumps(
            {
                "url": "https://a.test/k2",
                "title": "Acme Kettle K2",
                "text": "1.7 litre kettle, 2200 W, $49.99",
            }
        )
        + "\n"
        + json.dumps(
            {"url": "https://a.test/t4", "title": "Acme Toaster T4", "text": "four slot toaster, $39.99"}
        )
        + "\n"
    )
    corpus, cache = tmp_path / "corpus", tmp_path / "cache.sqlite"
    built = _run(["web", "build-corpus", str(src), "--out", str(corpus)])
    assert built.exit_code == 0, built.output
    assert "2 documents" in built.output

    args = ["web", "search", "kettle", "--corpus", str(corpus), "--cache", str(cache), "--json"]
    first = _run(args)
    assert first.exit_code == 0, first.output
    payload = json.loads(first.stdout)
    assert payload["results"][0]["url"] == "https://a.test/k2" and payload["from_cache"] is False
    assert json.loads(_run(args).stdout)["from_cache"] is True

    visit = _run(
        [
            "web",
            "visit",
            "https://a.test/k2",
            "--goal",
            "power",
            "--corpus",
            str(corpus),
            "--cache",
            str(cache),
        ]
    )
    assert visit.exit_code == 0, visit.output
    assert "<<<UNTRUSTED PAGE TEXT url=https://a.test/k2>>>" in visit.stdout and "2200 W" in visit.stdout

    stats = _run(["web", "cache", "stats", "--cache", str(cache), "--json"])
    numbers = json.loads(stats.stdout)
    assert (numbers["entries"], numbers["hits"], numbers["misses"]) == (2, 1, 2)

    frozen = tmp_path / "frozen.sqlite"
    exported = _run(["web", "cache", "export", str(frozen), "--cache", str(cache)])
    assert exported.exit_code == 0 and "exported 2 entries" in exported.output
    other = tmp_path / "other.sqlite"
    imported = _run(["web", "cache", "import", str(frozen), "--cache", str(other)])
    assert imported.exit_code == 0 and "2 new" in imported.output

    strict = [
        "web",
        "search",
        "kettle",
        "--corpus",
        str(corpus),
        "--cache",
        str(other),
        "--mode",
        "replay_strict",
    ]
    assert _run(strict).exit_code == 0
    missing = _run([*strict[:2], "toaster", *strict[3:]])
    assert (
        missing.exit_code == 1
        and "not in the frozen web cache" in missing.stdout
        and "'toaster'" in missing.stdout
    )


def test_missing_key_is_reported_with_the_variable(tmp_path: Path) -> None:
    result = _run(["web", "search", "kettle", "--provider", "serper", "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 2
    assert "SERPER_API_KEY" in result.output


def test_visit_a_live_page_and_bad_mode(
    http_server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRGYM_WEB_ALLOW_PRIVATE", "1")  # the page is served on 127.0.0.1: opt in
    http_server.add(
        "/p",
        lambda h: send(
            h, 200, "<html><head><title>Spec</title></head><body><p>Weight: 1.1 kg</p></body></html>"
        ),
    )
    result = _run(
        ["web", "visit", f"{http_server.url}/p", "--goal", "weight", "--mode", "live", "--timeout", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "Weight: 1.1 kg" in result.stdout
    bad = _run(["web", "visit", f"{http_server.url}/p", "--goal", "x", "--mode", "sometimes"])
    assert bad.exit_code == 2 and "sometimes" in bad.output
    gone = _run(
        ["web", "visit", f"{http_server.url}/missing", "--goal", "x", "--mode", "live", "--timeout", "1"]
    )
    assert gone.exit_code == 1 and "HTTP 404" in gone.stdout
