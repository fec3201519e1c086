"""Knowledge tasks: the deciding requirement is a fact read from a web page, never stated in the query.

ShoppingBench's web tasks ask for a product whose title or description holds the answer to a question (the
*knowledge attribute*); the scorer checks that the answer appears in the recommended product's title or
description and that its title is close to the target's (similarity >= 0.8). We build the same kind of task
from pages the user configured, a local web corpus (``prgym web build-corpus``) or a recorded web cache:

1. every page gives *facts*, ``label: value`` lines of its text (item specifics, structured product data):
   ``Brand: PUMA`` on an eBay listing;
2. a fact's value is the knowledge attribute; the target is a catalog product whose title (or, failing that,
   description) holds the value as whole words;
3. the product must relate to the page: its title, less the value, shares a word with the page title;
4. the query names the page and the label and describes the product by its title *with the value's words
   removed*, so the only way to tell the target from look-alikes is to read the page (and, when the value is
   in descriptions only, the products' long descriptions).

Verified like the other intents: the target succeeds under the web rule; ``n_satisfying`` is the exact count
of other products that also succeed (title cosine >= 0.8 and the value in title or description: candidates
from the title index, then the scorer itself); the query must state the page url, the label and the described
title (verifier) and must *not* contain the value (``answer_leaked``); a task where no look-alike lacks the
value is rejected (``knowledge_not_needed``: ``meta.n_distractors`` counts products whose title matches the
request at least 0.8 times as well as the target's and which fail the knowledge check); ``product_search`` for
the described title must reach the target or a satisfying product (``unreachable``).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from sandbox.catalog.product import Product
from sandbox.errors import UserError
from sandbox.rewards.shoppingbench import WEB_TITLE_THRESHOLD, score_web_task
from sandbox.tasks.models import ShoppingTarget, ShoppingTask
from sandbox.tasks.synthesis.pool import CatalogPool, target_of_id

_TOKEN = re.compile(r"[0-9a-z]+")
_LABEL = re.compile(r"^[A-Za-z][A-Za-z /&()-]{1,30}$")
_LETTERS = re.compile(r"[A-Za-z]")
MAX_VALUE_WORDS = 4
MIN_VALUE_CHARS = 3
DISTRACTOR_SHARE = 0.8
_PLAIN = {"the", "and", "for", "with", "size", "new", "com", "www", "ebay", "amazon", "shop", "buy"}
"""Words too common to relate a product to a page."""
SKIP_LABELS = {"price", "availability", "condition", "delivery", "sort by", "excludes", "ships to"}


class WebPage(BaseModel):
    url: str
    title: str = ""
    text: str


class WebFact(BaseModel):
    """One ``label: value`` line of a page; ``value`` becomes a knowledge attribute."""

    url: str
    page_title: str
    label: str
    value: str


def _words(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


def contains_words(text: str, value: str) -> bool:
    """Whether the words of ``value`` occur in ``text`` as a contiguous run of whole words."""
    have, want = _words(text), _words(value)
    n = len(want)
    return n > 0 and any(have[i : i + n] == want for i in range(len(have) - n + 1))


def _good_value(label: str, value: str) -> bool:
    value = value.strip()
    return (
        MIN_VALUE_CHARS <= len(value) <= 40
        and len(value.split()) <= MAX_VALUE_WORDS
        and "," not in value
        and sum(c.isalpha() for c in value) >= MIN_VALUE_CHARS
        and bool(_LETTERS.search(value))
        and label.casefold() not in SKIP_LABELS
        and not contains_words(label, value)
    )


def page_facts(page: WebPage) -> list[WebFact]:
    """``label: value`` facts of a page's text: on one line, or the label alone and the value on the next line.
    The first value of a label wins (casefolded label), values must look like names (see ``_good_value``)."""
    lines = [" ".join(line.split()) for line in page.text.splitlines()]
    lines = [line for line in lines if line]
    seen: dict[str, WebFact] = {}
    for i, line in enumerate(lines):
        label, sep, value = line.partition(":")
        if not sep or not _LABEL.match(label.strip()):
            continue
        value = value.strip() or (lines[i + 1] if i + 1 < len(lines) and ":" not in lines[i + 1] else "")
        label = label.strip()
        if label.casefold() in seen or not _good_value(label, value):
            continue
        seen[label.casefold()] = WebFact(url=page.url, page_title=page.title, label=label, value=value)
    return list(seen.values())


def _corpus_pages(directory: Path) -> list[WebPage]:
    import tantivy

    from sandbox.web.corpus import LocalCorpus

    corpus = LocalCorpus(directory)
    searcher = corpus._searcher
    hits = searcher.search(tantivy.Query.all_query(), max(len(corpus), 1)).hits
    docs = [searcher.doc(address) for _, address in hits]
    docs.sort(key=lambda d: int(d["ord"][0]))
    return [
        WebPage(url=d["url"][0], title=(d["title"] or [""])[0], text=(d["text"] or [""])[0]) for d in docs
    ]


def _cache_pages(path: Path) -> list[WebPage]:
    from sandbox.web.cache import WebCache

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        namespaces = [row[0] for row in conn.execute("SELECT DISTINCT namespace FROM entries ORDER BY 1")]
    pages: dict[str, WebPage] = {}
    with WebCache(path) as cache:
        for namespace in namespaces:
            for request, payload in cache.iter_entries(namespace):
                if request.get("kind") != "page" or not isinstance(payload, dict) or payload.get("error"):
                    continue
                if str(payload.get("text") or "").strip():
                    url = str(payload.get("final_url") or payload.get("url") or request.get("target"))
                    pages.setdefault(
                        url, WebPage(url=url, title=str(payload.get("title") or ""), text=payload["text"])
                    )
    return [pages[u] for u in sorted(pages)]


class KnowledgeSource:
    """The pages of a web corpus directory or a recorded web cache file, and their facts."""

    def __init__(self, pages: list[WebPage], name: str) -> None:
        self.pages = pages
        self.name = name
        self.facts = [fact for page in pages for fact in page_facts(page)]

    @classmethod
    def open(cls, path: str | Path) -> KnowledgeSource:
        """A corpus directory (``manifest.json`` + index) or a web cache file (SQLite), with a clear error else."""
        path = Path(path).expanduser()
        if path.is_dir() and (path / "manifest.json").is_file():
            pages = _corpus_pages(path)
        elif path.is_file():
            try:
                pages = _cache_pages(path)
            except sqlite3.DatabaseError as exc:
                raise UserError(
                    f"--web-corpus {path}: not a web cache file ({exc})",
                    hint="pass a corpus directory from `prgym web build-corpus` or a recorded cache file",
                ) from exc
        else:
            raise UserError(
                f"--web-corpus {path}: neither a corpus directory (with manifest.json) nor a web cache file",
                hint="build a corpus with `prgym web build-corpus SRC --out DIR` or record a cache with web tools",
            )
        digest = hashlib.sha256("\x00".join(p.url + "\x00" + p.text for p in pages).encode()).hexdigest()
        return cls(pages, f"web:{digest[:12]}")


class KnowledgeIndex:
    """For each fact, the catalog products whose title or description holds its value and whose title, without
    the value, shares a word of three letters or more with the page's title (so the request is about something
    the page relates to: the brand of the shoes on a listing, then track pants of that brand). Computed once."""

    def __init__(self, pool: CatalogPool, source: KnowledgeSource) -> None:
        self.pool, self.source = pool, source
        self.matches: list[tuple[WebFact, list[int]]] = []
        folded = [f"{p.title}\n{p.description or ''}".casefold() for p in pool.products]
        for fact in source.facts:
            needle = fact.value.casefold()
            hits = [i for i, text in enumerate(folded) if needle in text and contains_words(text, fact.value)]
            page_words = (
                {w for w in _words(fact.page_title) if len(w) >= 3} - set(_words(fact.value)) - _PLAIN
            )
            hits = [
                i for i in hits if page_words & set(_words(_strip_value(pool.products[i].title, fact.value)))
            ]
            if hits:
                self.matches.append((fact, hits))


def _strip_value(title: str, value: str) -> str:
    """The title with the value's words removed (whole words, case-insensitive), spaces tidied."""
    out = title
    for word in sorted(set(value.split()), key=len, reverse=True):
        out = re.sub(rf"(?<![0-9A-Za-z]){re.escape(word)}(?![0-9A-Za-z])", " ", out, flags=re.IGNORECASE)
    out = " ".join(out.split()).strip(" ,-|/")
    return out


class KnowledgeCandidate(BaseModel):
    """A sampled knowledge task before the query is written."""

    fact: WebFact
    product_id: str
    described: str
    where: str


def sample_knowledge(index: KnowledgeIndex, rng: np.random.Generator) -> tuple[KnowledgeCandidate, Product]:
    """A fact and a product holding its value, and the product description the query will give."""
    fact, hits = index.matches[int(rng.integers(len(index.matches)))]
    product = index.pool.products[hits[int(rng.integers(len(hits)))]]
    in_title = contains_words(product.title, fact.value)
    described = _strip_value(product.title, fact.value) if in_title else product.title
    candidate = KnowledgeCandidate(
        fact=fact,
        product_id=product.product_id,
        described=described,
        where="title" if in_title else "description",
    )
    return candidate, product


def knowledge_task(product: Product, fact: WebFact, *, task_id: str, query: str, meta: dict) -> ShoppingTask:
    source, native = target_of_id(product)
    return ShoppingTask(
        task_id=task_id,
        query=query,
        task_type="web",
        items=[ShoppingTarget(product_id=native, titles=[product.title])],
        knowledge_attribute=fact.value,
        currency=product.currency,
        catalog_source=source,
        scoring="prgym",
        meta=meta,
    )


def web_satisfies(product: Product, task: ShoppingTask) -> bool:
    """The reference filter of a knowledge task: the web rule succeeds for ``product`` (prgym mode)."""
    return score_web_task(product, task, scoring="prgym").success


def knowledge_counts(pool: CatalogPool, task: ShoppingTask, described: str) -> tuple[list[str], int]:
    """Ids of the other products satisfying the task (exact: title-index candidates at the web threshold, then
    the scorer), and the number of distractors (see the module docstring)."""
    own = task.items[0].catalog_id(task.catalog_source)
    target = ShoppingTarget(product_id=task.items[0].product_id, titles=task.items[0].titles)
    satisfying = [
        pool.products[int(i)].product_id
        for i in pool.candidates(target, threshold=WEB_TITLE_THRESHOLD)
        if pool.products[int(i)].product_id != own and web_satisfies(pool.products[int(i)], task)
    ]
    cosines = pool.title_cosines(described)
    bar = DISTRACTOR_SHARE * float(cosines[pool.index[own]])
    distractors = 0
    for i in np.flatnonzero(cosines >= bar - 1e-9):
        p = pool.products[int(i)]
        if p.product_id != own and not score_web_task(p, task, scoring="prgym").knowledge_ok:
            distractors += 1
    return satisfying, distractors
