"""The local corpus: building from JSONL / HTML / text, BM25 search with tantivy, offline page reading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sandbox.web import CacheMode, ConfigurationError, LocalCorpus, WebCache, WebTools, build_corpus
from sandbox.web.corpus import CorpusFormatError, count_work

DOCS = [
    {
        "url": "https://kettles.test/k2",
        "title": "Acme Kettle K2",
        "text": "Electric kettle, 1.7 litres, 2200 W. Price $49.99.",
    },
    {
        "url": "https://kettles.test/k3",
        "title": "Acme Kettle K3 glass",
        "text": "Glass kettle with blue light, 1.5 litres.",
    },
    {
        "url": "https://toasters.test/t4",
        "title": "Acme Toaster T4",
        "text": "Four slot toaster, price $39.99, 1500 W.",
    },
    {
        "url": "https://grinders.test/g1",
        "html": "<html><head><title>Burr Grinder G1</title></head><body><main>"
        "<p>Conical burr coffee grinder with 40 settings for espresso and French press. Price: $129.</p>"
        "</main><nav>Home Cart Sign in</nav></body></html>",
    },
    {"url": "https://KETTLES.test/k2#dup", "title": "duplicate", "text": "same url as the first document"},
]


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> LocalCorpus:
    src = tmp_path / "src"
    src.mkdir()
    _write_jsonl(src / "docs.jsonl", DOCS)
    (src / "notes.md").write_text("# Kettle buying guide\n\nLook at capacity, wattage and warranty.\n")
    units: list[int] = []
    manifest = build_corpus(src, tmp_path / "corpus", progress=units.append)
    assert sum(units) == count_work(src) == len(DOCS) + 1
    assert (manifest.documents, manifest.duplicates_skipped) == (5, 1)
    return LocalCorpus(tmp_path / "corpus")


def test_search_ranks_by_bm25_with_title_boost(corpus: LocalCorpus) -> None:
    hits = corpus.search("kettle", 10)
    assert {h.url for h in hits} == {
        "https://kettles.test/k2",
        "https://kettles.test/k3",
        "corpus://notes.md",
    }
    assert corpus.search("glass kettle", 1)[0].url == "https://kettles.test/k3"
    assert (
        corpus.search("kettles 2200 watts", 1)[0].url == "https://kettles.test/k2"
    )  # stemmed: kettles -> kettl
    assert corpus.search("espresso grinder", 1)[0].title == "Burr Grinder G1"
    assert corpus.search("", 5) == [] and corpus.search("!!! ???", 5) == []
    assert (
        corpus.search('toaster AND "unbalanced (query', 5)[0].url == "https://toasters.test/t4"
    )  # no syntax errors


def test_search_is_deterministic_and_bounded(corpus: LocalCorpus, tmp_path: Path) -> None:
    assert corpus.search("acme", 2) == corpus.search("acme", 2)
    assert len(corpus.search("acme", 2)) == 2
    again = LocalCorpus(corpus.directory)
    assert again.name == corpus.name and again.search("acme price", 10) == corpus.search("acme price", 10)


def test_pages_are_read_from_the_corpus(corpus: LocalCorpus) -> None:
    page = corpus.read("https://kettles.test/k2")
    assert page is not None and page.title == "Acme Kettle K2" and "2200 W" in page.text
    grinder = corpus.read("HTTPS://grinders.test/g1")  # canonical url lookup
    assert grinder is not None and grinder.title == "Burr Grinder G1" and "40 settings" in grinder.text
    assert "Sign in" not in grinder.text
    assert corpus.read("https://unknown.test/") is None


def test_tools_work_offline_on_the_corpus(corpus: LocalCorpus, tmp_path: Path) -> None:
    with WebTools(corpus, [corpus], cache=WebCache(tmp_path / "c.sqlite"), mode=CacheMode.record) as tools:
        result = tools.web_search(["glass kettle"])[0]
        assert result.provider == corpus.name and result.results[0].url == "https://kettles.test/k3"
        page = tools.web_visit([result.results[0].url], "capacity in litres")[0]
        assert page.error is None and any("1.5 litres" in p for p in page.evidence)


def test_corpus_id_depends_on_content(tmp_path: Path) -> None:
    a = build_corpus(_write_jsonl(tmp_path / "a.jsonl", DOCS[:2]), tmp_path / "ca")
    b = build_corpus(_write_jsonl(tmp_path / "b.jsonl", DOCS[:2]), tmp_path / "cb")
    c = build_corpus(_write_jsonl(tmp_path / "c.jsonl", DOCS[:3]), tmp_path / "cc")
    assert a.corpus_id == b.corpus_id != c.corpus_id


def test_bad_records_name_file_and_line(tmp_path: Path) -> None:
    good = json.dumps(DOCS[0])
    cases = {
        "not json": (f"{good}\n{{oops\n", ":2: not valid JSON"),
        "no url": (f'{good}\n\n{{"text": "x"}}\n', ":3: url: Field required"),
        "no content": (
            '{"url": "https://a.test", "title": "t"}\n',
            ":1: record: Value error, each document needs",
        ),
        "array": (f"{good}\n[1, 2]\n", ":2: expected a JSON object"),
    }
    for name, (content, message) in cases.items():
        src = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        src.write_text(content)
        with pytest.raises(CorpusFormatError) as info:
            build_corpus(src, tmp_path / f"out-{src.stem}")
        assert str(src) in str(info.value) and message in str(info.value), name


def test_output_directory_is_protected(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "d.jsonl", DOCS[:1])
    build_corpus(src, tmp_path / "corpus")
    with pytest.raises(ConfigurationError, match="not empty"):
        build_corpus(src, tmp_path / "corpus")
    assert build_corpus(src, tmp_path / "corpus", overwrite=True).documents == 1
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.txt").write_text("do not delete")
    with pytest.raises(ConfigurationError, match="holds no corpus manifest"):
        build_corpus(src, other, overwrite=True)
    assert (other / "thesis.txt").exists()
    with pytest.raises(ConfigurationError, match="no corpus at"):
        LocalCorpus(other)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="no corpus documents"):
        build_corpus(tmp_path / "empty", tmp_path / "x")


def test_real_pages_directory(shared_data: Path, tmp_path: Path) -> None:
    src = tmp_path / "pages"
    shutil.copytree(shared_data / "web_pages", src)
    manifest = build_corpus(src, tmp_path / "corpus")
    corpus = LocalCorpus(tmp_path / "corpus")
    assert manifest.documents == 3
    hit = corpus.search("puma basketball shoes red", 1)[0]
    assert hit.url == "https://www.ebay.com/p/18052730566"  # the page's own <link rel=canonical>
    assert "PUMA" in corpus.read(hit.url).text
    bed = corpus.search("metal platform bed frame", 1)[0]
    assert bed.title.startswith("Amazon Basics Foldable")
