"""A local web corpus: BM25 search (tantivy) over documents on disk, so research runs fully offline.

Input is a JSONL file (one ``{"url", "title"?, "text" | "html"}`` object a line) or a directory holding JSONL,
HTML (``.html``/``.htm``, main text extracted like a fetched page) and text (``.txt``/``.md``) files. The corpus
directory holds a tantivy index (url, title and text are stored, so ``web_visit`` of a corpus url is answered
from disk too) and ``manifest.json`` with a content-derived ``corpus_id`` that enters every cache key.

Queries are analyzed in Python with the index's own analyzer and turned into boosted term queries, so agent
text can never be a query-syntax error; ties in score are broken by document order, so results are stable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import lxml.etree
import lxml.html
import tantivy
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from sandbox.catalog.lexical import ANALYZER_DESCRIPTION, build_analyzer
from sandbox.errors import UserError
from sandbox.web.errors import ConfigurationError
from sandbox.web.extract import extract_html
from sandbox.web.keys import ParamValue, canonical_url
from sandbox.web.models import FetchedPage, WebHit

INDEX_DIRNAME = "index"
MANIFEST_NAME = "manifest.json"
ANALYZER_NAME = "prgym_web"
FIELD_BOOSTS = {"title": 2.0, "text": 1.0}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
SNIPPET_CHARS = 240


class CorpusFormatError(UserError, ValueError):
    """A corpus source record is malformed; the message names the file and line."""


class CorpusDocument(BaseModel):
    """One page of the corpus. Give ``text``, or ``html`` to have its main text extracted."""

    model_config = ConfigDict(extra="ignore")

    url: str
    title: str = ""
    text: str = ""
    html: str | None = None

    @model_validator(mode="after")
    def _needs_content(self) -> CorpusDocument:
        if not self.url.strip():
            raise ValueError("url must be a non-empty string")
        if not self.text.strip() and not (self.html and self.html.strip()):
            raise ValueError("each document needs a non-empty 'text' or 'html'")
        return self

    def resolved(self) -> CorpusDocument:
        """The document with HTML reduced to title + main text (as ``web_visit`` would read it)."""
        if self.text.strip() or not self.html:
            return CorpusDocument(url=self.url.strip(), title=self.title.strip(), text=self.text.strip())
        page = extract_html(self.html, url=self.url)
        return CorpusDocument(
            url=self.url.strip(), title=self.title.strip() or page.title, text=page.full_text()
        )


class CorpusManifest(BaseModel):
    corpus_id: str
    documents: int
    duplicates_skipped: int
    source: str
    built_at: float
    analyzer: str = ANALYZER_DESCRIPTION
    field_boosts: dict[str, float] = FIELD_BOOSTS


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("url", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("url_key", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("title", stored=True, tokenizer_name=ANALYZER_NAME, index_option="freq")
    builder.add_text_field("text", stored=True, tokenizer_name=ANALYZER_NAME, index_option="freq")
    builder.add_unsigned_field("ord", stored=True, fast=True, indexed=True)
    return builder.build()


# -- reading sources ------------------------------------------------------------------------------------------------


def _source_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise ConfigurationError(f"corpus source not found: {src}")
    wanted = {".jsonl", *HTML_SUFFIXES, *TEXT_SUFFIXES}
    return sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in wanted)


def _work_units(path: Path) -> int:
    """Progress units of one file: its lines for JSONL, 1 otherwise."""
    if path.suffix.lower() != ".jsonl":
        return 1
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def _jsonl_documents(path: Path) -> Iterator[tuple[CorpusDocument | None, int]]:
    with path.open("r", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                yield None, 1
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise CorpusFormatError(f"{path}:{lineno}: not valid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise CorpusFormatError(f"{path}:{lineno}: expected a JSON object with url and text or html")
            try:
                yield CorpusDocument.model_validate(record).resolved(), 1
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()
                )
                raise CorpusFormatError(f"{path}:{lineno}: {problems}") from exc


def _file_document(path: Path, root: Path) -> CorpusDocument | None:
    relative = path.relative_to(root).as_posix() if path != root else path.name
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    if path.suffix.lower() in HTML_SUFFIXES:
        page = extract_html(text)
        canonical = _declared_url(text)
        body = page.full_text()
        if not body.strip():
            return None
        return CorpusDocument(url=canonical or f"corpus://{relative}", title=page.title, text=body)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    return CorpusDocument(
        url=f"corpus://{relative}", title=lines[0].lstrip("# ").strip(), text="\n".join(lines)
    )


def _declared_url(html: str) -> str | None:
    """The page's own url from ``<link rel=canonical>`` or ``og:url``, when it names an http(s) address."""
    try:
        doc = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return None
    for xpath in ("//link[@rel='canonical']/@href", "//meta[@property='og:url']/@content"):
        for value in doc.xpath(xpath):
            if str(value).startswith(("http://", "https://")):
                return str(value).strip()
    return None


def iter_documents(src: Path, progress: Callable[[int], None] | None = None) -> Iterator[CorpusDocument]:
    """Every document of ``src`` in a stable order (files sorted by path, JSONL lines in order)."""
    root = src if src.is_dir() else src.parent
    for path in _source_files(src):
        if path.suffix.lower() == ".jsonl":
            for document, units in _jsonl_documents(path):
                if progress:
                    progress(units)
                if document is not None:
                    yield document
        else:
            document = _file_document(path, root)
            if progress:
                progress(1)
            if document is not None:
                yield document


def count_work(src: Path) -> int:
    """Progress total of :func:`build_corpus` for ``src`` (JSONL lines plus other files)."""
    return sum(_work_units(p) for p in _source_files(src))


def build_corpus(
    src: str | Path,
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    heap_bytes: int = 128_000_000,
) -> CorpusManifest:
    """Index every document of ``src`` into the corpus directory ``out``.

    A url seen twice keeps its first document (the later ones are counted in ``duplicates_skipped``). One
    indexing thread keeps the segment layout, and so the scores, independent of scheduling.
    """
    src, out = Path(src).expanduser(), Path(out).expanduser()
    files = _source_files(src)
    if not files:
        raise ConfigurationError(f"no corpus documents (.jsonl, .html, .htm, .txt, .md) under {src}")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigurationError(f"corpus directory {out} is not empty (pass overwrite=True / --force)")
        if not (out / MANIFEST_NAME).is_file():
            raise ConfigurationError(
                f"refusing to overwrite {out}: it is not empty and holds no corpus manifest"
            )
        shutil.rmtree(out)
    index_dir = out / INDEX_DIRNAME
    index_dir.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(build_schema(), path=str(index_dir), reuse=False)
    index.register_tokenizer(ANALYZER_NAME, build_analyzer())
    writer = index.writer(heap_size=heap_bytes, num_threads=1)
    digest = hashlib.sha256()
    seen: set[str] = set()
    ordinal = duplicates = 0
    for document in iter_documents(src, progress):
        key = canonical_url(document.url)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        doc = tantivy.Document()
        doc.add_text("url", document.url)
        doc.add_text("url_key", key)
        doc.add_text("title", document.title)
        doc.add_text("text", document.text)
        doc.add_unsigned("ord", ordinal)
        writer.add_document(doc)
        for part in (document.url, document.title, document.text):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
        ordinal += 1
    writer.commit()
    writer.wait_merging_threads()
    manifest = CorpusManifest(
        corpus_id=digest.hexdigest(),
        documents=ordinal,
        duplicates_skipped=duplicates,
        source=str(src),
        built_at=time.time(),
    )
    (out / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return manifest


# -- searching ------------------------------------------------------------------------------------------------------


class LocalCorpus:
    """Search provider and page source over a built corpus directory (read-only, shareable across threads)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        manifest_path = self.directory / MANIFEST_NAME
        if not manifest_path.is_file():
            raise ConfigurationError(
                f"no corpus at {self.directory} (missing {MANIFEST_NAME}); build one with `prgym web build-corpus`"
            )
        self.manifest = CorpusManifest.model_validate_json(manifest_path.read_text(encoding="utf-8"))
        self.name = f"corpus:{self.manifest.corpus_id[:12]}"
        self._index = tantivy.Index.open(str(self.directory / INDEX_DIRNAME))
        self._analyzer = build_analyzer()
        self._index.register_tokenizer(ANALYZER_NAME, self._analyzer)
        self._schema = self._index.schema
        self._searcher = self._index.searcher()

    def __len__(self) -> int:
        return self.manifest.documents

    def cache_params(self) -> dict[str, ParamValue]:
        return {"corpus_id": self.manifest.corpus_id}

    def analyze(self, text: str) -> list[str]:
        return list(dict.fromkeys(self._analyzer.analyze(text)))

    def _query(self, terms: list[str]) -> tantivy.Query:
        clauses = [
            (
                tantivy.Occur.Should,
                tantivy.Query.boost_query(tantivy.Query.term_query(self._schema, field, term), boost),
            )
            for term in terms
            for field, boost in FIELD_BOOSTS.items()
        ]
        return tantivy.Query.boolean_query(clauses)

    def search(self, query: str, num_results: int = 10) -> list[WebHit]:
        """Top ``num_results`` documents by BM25 (title boosted), ties broken by document order."""
        terms = self.analyze(query)
        if not terms or num_results <= 0:
            return []
        result = self._searcher.search(self._query(terms), num_results + 8)
        scored = []
        for score, address in result.hits:
            doc = self._searcher.doc(address)
            scored.append((-score, int(doc["ord"][0]), doc))
        scored.sort(key=lambda item: (item[0], item[1]))
        hits = []
        for _, _, doc in scored[:num_results]:
            text = doc["text"][0] if doc["text"] else ""
            hits.append(
                WebHit(url=doc["url"][0], title=(doc["title"] or [""])[0], snippet=_snippet(text, terms))
            )
        return hits

    def get(self, url: str) -> CorpusDocument | None:
        """The stored document whose (canonical) url is ``url``."""
        result = self._searcher.search(
            tantivy.Query.term_query(self._schema, "url_key", canonical_url(url)), 1
        )
        if not result.hits:
            return None
        doc = self._searcher.doc(result.hits[0][1])
        return CorpusDocument(
            url=doc["url"][0], title=(doc["title"] or [""])[0], text=(doc["text"] or [""])[0]
        )

    def read(self, url: str) -> FetchedPage | None:
        """Page source hook for ``web_visit``: the corpus copy of ``url``, or ``None`` when it is not in the corpus."""
        document = self.get(url)
        if document is None:
            return None
        return FetchedPage(
            url=url,
            final_url=document.url,
            status=200,
            content_type="text/plain",
            title=document.title,
            text=document.text,
        )


def _snippet(text: str, terms: list[str]) -> str:
    """About ``SNIPPET_CHARS`` characters of ``text`` around the first place a query term (stem) appears."""
    flat = " ".join(text.split())
    if len(flat) <= SNIPPET_CHARS:
        return flat
    lowered = flat.casefold()
    positions = [pos for term in terms if (pos := lowered.find(term)) >= 0]
    start = 0
    if positions:
        start = max(0, min(positions) - SNIPPET_CHARS // 3)
        space = flat.rfind(" ", 0, start)
        start = space + 1 if space > 0 and start > 0 else start
    piece = flat[start : start + SNIPPET_CHARS]
    cut = piece.rfind(" ")
    if start + SNIPPET_CHARS < len(flat) and cut > SNIPPET_CHARS // 2:
        piece = piece[:cut]
    return ("\u2026" if start > 0 else "") + piece + ("\u2026" if start + len(piece) < len(flat) else "")


def open_corpus(directory: str | Path | None) -> LocalCorpus:
    if directory is None:
        raise ConfigurationError(
            "the corpus provider needs a corpus directory: pass --corpus or set PRGYM_CORPUS_DIR"
        )
    return LocalCorpus(directory)
