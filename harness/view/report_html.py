"""The final report as safe HTML: markdown rendered with raw HTML disabled, citations linked, claims marked.

Reports are agent output, so they are untrusted: markdown-it renders with ``html=False`` (any ``<script>`` or
``<img onerror>`` in the report comes out as visible text), images are disabled (nothing is fetched when the
page opens offline), and links keep markdown-it's URL validation (no ``javascript:``). After rendering,
``[P:id]`` citations become links to the record the agent saw in the trace, and every grounding verdict is
shown on the claim it judged.

Grounding is re-checked here with :func:`sandbox.rewards.grounding.check_report` against the records as
recorded in the trace (``visit_product`` results, else search hits), because the trace keeps the episode's
aggregate grounding figures, not the per-claim verdicts. The env checks against the whole snapshot; the two
agree whenever the agent visited what it cited.
"""

from __future__ import annotations

import html
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from markdown_it import MarkdownIt
from pydantic import ValidationError

from sandbox.catalog.product import Product
from sandbox.citations import cited_product_ids
from sandbox.rewards.grounding import ClaimCheck, check_report

_START = "\ue000"
_END = "\ue001"
_STOP = "\ue002"
_MARKERS = re.compile(f"[{_START}{_END}{_STOP}]")
_CLAIM_END = re.compile(f"{_END}(\\d+){_STOP}")
_CITE = re.compile(r"\[P:([^\]\s<>\"]+)\]")
_WEB = re.compile(r"\[W:([^\]\s<>\"]+)\]")
_CLAIM_GROUP = re.compile(f"(?:{_END}\\d+{_STOP})+")
_TOKENS = re.compile(f"{_START}|{_CLAIM_GROUP.pattern}|{_CITE.pattern}|{_WEB.pattern}")
_SYMBOL = {"agrees": "\u2713", "disagrees": "\u2717", "unverifiable": "?"}


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    md.disable("image")
    return md


_MD = _markdown()


def product_of_record(record: dict[str, Any]) -> Product | None:
    """A :class:`Product` from a tool's view of it (for grounding checks); ``None`` if it cannot be one."""
    price = record.get("price")
    try:
        price = Decimal(str(price)) if price is not None else None
    except InvalidOperation:
        price = None
    attributes = record.get("attributes") if isinstance(record.get("attributes"), dict) else {}
    try:
        return Product(
            product_id=str(record.get("id")),
            title=str(record.get("title") or "?"),
            source=str(record.get("source") or str(record.get("id", "?")).split(":", 1)[0] or "?"),
            brand=record.get("brand") or None,
            category_path=[p for p in str(record.get("category") or "").split(" > ") if p],
            price=price,
            currency=record.get("currency") or None,
            description=record.get("description") or None,
            bullet_points=[str(b) for b in record.get("bullet_points") or []],
            attributes={
                str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in attributes.items()
            },
            rating=record.get("rating"),
        )
    except (ValidationError, TypeError, ValueError):
        return None


def _checks(report: str, records: dict[str, dict[str, Any]]) -> list[ClaimCheck]:
    # as the env does: claims are checked against the cited products that exist (here: that the trace shows)
    cited = set(cited_product_ids(report))
    products = {}
    for pid, record in records.items():
        if pid not in cited:
            continue
        product = product_of_record(record)
        if product is not None:
            products[pid] = product
    try:
        return check_report(report, products)
    except Exception:  # a checker bug must not cost the user the whole report page
        return []


def _mark_claims(report: str, checks: list[ClaimCheck]) -> tuple[str, list[dict[str, Any]]]:
    """The report with sentinels around each checked unit of text, and the claims (numbered) they refer to."""
    report = _MARKERS.sub("", report)
    lines = report.splitlines()
    groups: dict[tuple[int, str], list[int]] = {}
    claims: list[dict[str, Any]] = []
    for check in checks:
        claim = check.claim
        claims.append(
            {
                "kind": claim.kind,
                "values": list(claim.values),
                "products": list(claim.product_ids),
                "verdict": check.verdict,
                "catalog": check.catalog,
                "line": claim.line,
                "text": claim.text,
            }
        )
        groups.setdefault((claim.line, claim.text), []).append(len(claims) - 1)
    cursor: dict[int, int] = {}
    for (line_no, text), members in groups.items():
        index = line_no - 1
        if not 0 <= index < len(lines):
            continue
        line = lines[index]
        at = line.find(text, cursor.get(index, 0))
        if at < 0:
            continue
        tail = "".join(f"{_END}{n}{_STOP}" for n in members)
        lines[index] = line[:at] + _START + text + tail + line[at + len(text) :]
        cursor[index] = at + len(text) + len(tail) + 1
    return "\n".join(lines), claims


def _badge(claims: list[dict[str, Any]], n: int) -> str:
    claim = claims[n]
    verdict = claim["verdict"]
    label = f"{_SYMBOL.get(verdict, '?')} {claim['kind']}"
    title = f"{claim['kind']} {' / '.join(claim['values'])}: {verdict}; the record says {claim['catalog']}"
    return (
        f'<sup class="gv v-{html.escape(verdict)}" data-claim="{n}" title="{html.escape(title)}">'
        f"{html.escape(label)}</sup>"
    )


def _token(token: str, claims: list[dict[str, Any]]) -> str:
    if token == _START:
        return '<span class="claim">'
    if token.startswith("[P:"):
        pid = token[3:-1]
        return f'<a href="#" class="cite" data-pid="{pid}">[P:{pid}]</a>'
    if token.startswith("[W:"):
        return f'<span class="wcite" title="web citation">{token}</span>'
    numbers = [int(n) for n in _CLAIM_END.findall(token)]
    verdicts = {claims[n]["verdict"] for n in numbers}
    worst = next((v for v in ("disagrees", "unverifiable") if v in verdicts), "agrees")
    badges = "".join(_badge(claims, n) for n in numbers)
    return f'</span><span class="gvs w-{worst}">{badges}</span>'


def render_report(report: str, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"html", "claims", "counts", "cited"}`` for the page (``html`` is safe to insert as markup)."""
    report = _MARKERS.sub("", report)
    checks = _checks(report, records)
    marked, claims = _mark_claims(report, checks)
    rendered = _MD.render(marked)
    # markdown-it escapes < > & " inside text and attribute values, so splitting at tags is exact; citations
    # and claim marks are replaced in text only, and any sentinel that landed in an attribute is dropped
    out: list[str] = []
    open_marks = 0
    for part in re.split(r"(<[^>]*>)", rendered):
        if part.startswith("<"):
            out.append(_MARKERS.sub("", part))
            continue
        out.append(_TOKENS.sub(lambda m: _token(m.group(0), claims), part))
        open_marks += part.count(_START) - len(_CLAIM_GROUP.findall(part))
    out.append("</span>" * max(0, open_marks))
    body = "".join(out)
    counts = {v: sum(1 for c in claims if c["verdict"] == v) for v in ("agrees", "disagrees", "unverifiable")}
    cited = list(dict.fromkeys(c.group(1) for c in _CITE.finditer(report)))
    return {"html": body, "claims": claims, "counts": counts, "cited": cited}
