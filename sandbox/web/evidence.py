"""Goal-focused evidence from a page: rank passages against the goal, summarize extractively or with an LLM.

``web_visit(urls, goal)`` should hand the agent the parts of a page that bear on its goal, not the whole page.
The offline mode splits the page into passages of a few lines and ranks them with BM25 against the goal
(deterministic, no model needed). The LLM mode passes the goal, the ranked evidence and the page, quoted as
untrusted data, to an injected summarizer callable; the harness supplies one backed by its LLM client.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel

from sandbox.stopwords import STOPWORDS
from sandbox.web.models import FetchedPage
from sandbox.web.quoting import quote_untrusted

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords, with a light plural strip (``shoes`` -> ``shoe``)."""
    out = []
    for word in _WORD.findall(text.casefold()):
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def _split_long(line: str, max_chars: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(line):
        while len(sentence) > max_chars:  # one enormous "sentence" (a table row, a list without stops)
            if current:
                parts.append(current)
                current = ""
            parts.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        if current and len(current) + 1 + len(sentence) > max_chars:
            parts.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        parts.append(current)
    return parts


def split_passages(text: str, *, target_chars: int = 300, max_chars: int = 600) -> list[str]:
    """Consecutive lines grouped into passages of about ``target_chars`` (never more than ``max_chars``).

    A line ending with ``:`` (``Brand:``) is joined to the next with a space, other lines with ``; ``, so a
    label and its value stay in one passage.
    """
    passages: list[str] = []
    current = ""

    def flush() -> None:
        nonlocal current
        if current.strip():
            passages.append(current.strip())
        current = ""

    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if len(line) > max_chars:
            flush()
            passages.extend(_split_long(line, max_chars))
            continue
        if current and len(current) + len(line) + 2 > target_chars and not current.endswith(":"):
            flush()
        if not current:
            current = line
        elif current.endswith(":"):
            current = f"{current} {line}"
        else:
            current = f"{current}; {line}"
        if len(current) > max_chars:
            flush()
    flush()
    return passages


def rank_passages(
    passages: list[str], goal: str, *, k1: float = 1.2, b: float = 0.75
) -> list[tuple[float, int]]:
    """``(BM25 score, index)`` of every passage against ``goal``, best first, ties by position in the page."""
    if not passages:
        return []
    docs = [Counter(tokens(p)) for p in passages]
    query = list(dict.fromkeys(tokens(goal)))
    n = len(docs)
    avg_len = sum(sum(d.values()) for d in docs) / n or 1.0
    df = {term: sum(1 for d in docs if term in d) for term in query}
    scored = []
    for index, doc in enumerate(docs):
        length = sum(doc.values())
        score = 0.0
        for term in query:
            tf = doc.get(term, 0)
            if not tf:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_len))
        scored.append((score, index))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return scored


class SummaryRequest(BaseModel):
    """What a summarizer gets. ``quoted_page`` and ``evidence`` are untrusted page text: a summarizer must put them
    in its prompt as quoted data (``quoted_page`` is already delimited), never as instructions."""

    url: str
    title: str
    goal: str
    evidence: list[str]
    quoted_page: str


class Summarizer(Protocol):
    """Any callable ``(SummaryRequest) -> str``; an optional ``name`` attribute identifies it in cache keys."""

    def __call__(self, request: SummaryRequest) -> str: ...


def summarizer_name(summarizer: Callable[..., str]) -> str:
    name = getattr(summarizer, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(summarizer, "__qualname__", type(summarizer).__qualname__)


class GoalEvidence(BaseModel):
    """Ranked evidence of one page for one goal, and whether any passage matched the goal at all."""

    passages: list[str]
    matched: bool


class EvidenceExtractor:
    """Offline evidence and extractive summaries (deterministic: the same page and goal give the same output)."""

    def __init__(
        self,
        *,
        max_passages: int = 5,
        target_chars: int = 300,
        max_chars: int = 600,
        summary_chars: int = 400,
        page_chars_for_summary: int = 24_000,
    ) -> None:
        self.max_passages = max_passages
        self.target_chars = target_chars
        self.max_chars = max_chars
        self.summary_chars = summary_chars
        self.page_chars_for_summary = page_chars_for_summary

    def evidence(self, page: FetchedPage, goal: str) -> GoalEvidence:
        """The passages of ``page`` that best match ``goal``, best first; the page's opening when none matches."""
        passages = split_passages(page.text, target_chars=self.target_chars, max_chars=self.max_chars)
        ranked = [(score, i) for score, i in rank_passages(passages, goal) if score > 0]
        if not ranked:
            return GoalEvidence(passages=passages[: min(2, self.max_passages)], matched=False)
        return GoalEvidence(passages=[passages[i] for _, i in ranked[: self.max_passages]], matched=True)

    def extractive_summary(self, page: FetchedPage, goal: str, evidence: GoalEvidence) -> str:
        """The best-matching sentences, up to ``summary_chars``; says so when nothing on the page matches."""
        if not evidence.passages:
            return "The page has no readable text."
        goal_terms = set(tokens(goal))
        sentences = [s for p in evidence.passages for s in _SENTENCE_END.split(p) if s.strip()]
        if evidence.matched and goal_terms:
            scored = sorted(
                enumerate(sentences), key=lambda item: (-len(goal_terms & set(tokens(item[1]))), item[0])
            )
            chosen = [s for _, s in scored]
        else:
            chosen = sentences
        summary = ""
        for sentence in chosen:
            addition = sentence if not summary else f" {sentence}"
            if len(summary) + len(addition) > self.summary_chars:
                if not summary:
                    summary = sentence[: self.summary_chars - 1] + "\u2026"
                break
            summary += addition
        if not evidence.matched:
            return "No passage of the page mentions the goal's terms. The page begins: " + summary
        return summary

    def summary_request(self, page: FetchedPage, goal: str, evidence: GoalEvidence) -> SummaryRequest:
        text = page.text[: self.page_chars_for_summary]
        return SummaryRequest(
            url=page.final_url or page.url,
            title=page.title,
            goal=goal,
            evidence=evidence.passages,
            quoted_page=quote_untrusted(text, url=page.final_url or page.url),
        )
