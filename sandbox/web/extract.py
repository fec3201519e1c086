"""Main text of an HTML page, without scripts, styles, navigation or footers.

The heavy lifting is trafilatura's (a maintained main-content extractor). Two additions make it fit product
research:

* landmark pruning before extraction: ``<nav>``, ``<header>``, ``<footer>``, ARIA navigation/banner/search
  regions, skip links and footer/breadcrumb containers are dropped, so the fallback extraction trafilatura uses
  on list-like pages (search results) does not pull in menus;
* structured product data: schema.org microdata and JSON-LD (name, brand, price, currency, availability, ...)
  are read with lxml and put before the text, because shops often show the price only in widgets that
  main-content extraction skips, but mark it up for search engines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lxml.etree
import lxml.html
import trafilatura
from trafilatura.settings import use_config

_LOWER = "translate(concat(' ', @class, ' ', @id, ' '), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
PRUNE_XPATHS: list[str] = [
    "//nav",
    "//header",
    "//footer",
    "//*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='search' or @role='menubar']",
    "//a[starts-with(@href, '#')]",
    f"//*[contains({_LOWER}, 'skip-link') or contains({_LOWER}, 'skiplink') or contains({_LOWER}, 'footer')"
    f" or contains({_LOWER}, 'breadcrumb') or contains({_LOWER}, 'navbar') or contains({_LOWER}, 'cookie-banner')]",
]

# schema.org properties worth showing a researcher, in the order they are listed.
PRODUCT_PROPERTIES = (
    "name",
    "brand",
    "model",
    "sku",
    "mpn",
    "gtin",
    "gtin8",
    "gtin12",
    "gtin13",
    "gtin14",
    "color",
    "material",
    "size",
    "price",
    "lowPrice",
    "highPrice",
    "priceCurrency",
    "availability",
    "itemCondition",
    "ratingValue",
    "reviewCount",
)
_PRODUCT_TYPES = {
    "product",
    "offer",
    "aggregateoffer",
    "brand",
    "aggregaterating",
    "productmodel",
    "individualproduct",
}


def _config() -> Any:
    config = use_config()
    # Small pages (a spec sheet, a short FAQ) are content too; trafilatura's default minimum would throw them away.
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "20")
    config.set("DEFAULT", "MIN_OUTPUT_SIZE", "1")
    # trafilatura's timeout uses SIGALRM, which only works in the main thread; the fetcher bounds the page size.
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    return config


_CONFIG = _config()


@dataclass
class ExtractedPage:
    """Title, structured product facts (``"price: 0.01 USD"``) and main text of one page."""

    title: str
    text: str
    facts: list[str] = field(default_factory=list)

    def full_text(self) -> str:
        """The text web_visit reads: structured facts first, then the main text."""
        if not self.facts:
            return self.text
        return (
            "Structured product data:\n" + "\n".join(self.facts) + ("\n\n" + self.text if self.text else "")
        )


def _clean_lines(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _parse(html: str | bytes) -> lxml.html.HtmlElement | None:
    try:
        return lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return None


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("name", "@id", "value"):
            if isinstance(value.get(key), str | int | float):
                return str(value[key]).strip()
        return ""
    if isinstance(value, list):
        return ", ".join(filter(None, (_plain(v) for v in value)))
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return " ".join(str(value).split())
    return ""


def _short_enum(value: str) -> str:
    """``https://schema.org/InStock`` -> ``InStock``."""
    return (
        value.rsplit("/", 1)[-1] if value.startswith(("http://schema.org/", "https://schema.org/")) else value
    )


def _microdata(doc: lxml.html.HtmlElement) -> Iterator[tuple[str, str]]:
    for element in doc.xpath("//*[@itemprop]"):
        scope = next((a for a in element.iterancestors() if a.get("itemscope") is not None), None)
        if scope is None:
            continue
        scope_type = (scope.get("itemtype") or "").rsplit("/", 1)[-1].lower()
        if scope_type not in _PRODUCT_TYPES:
            continue
        for prop in (element.get("itemprop") or "").split():
            if prop not in PRODUCT_PROPERTIES:
                continue
            if element.get("itemscope") is not None:
                continue  # a nested item (e.g. brand): its own name property carries the value
            value = element.get("content") or element.get("href") or element.text_content()
            value = " ".join((value or "").split())
            if prop == "name" and scope_type == "brand":
                prop = "brand"
            if value:
                yield prop, value


def _json_ld_items(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _json_ld_items(item)
    elif isinstance(node, dict):
        yield node
        for key in ("@graph", "offers", "aggregateRating", "hasVariant"):
            if key in node:
                yield from _json_ld_items(node[key])


def _json_ld(doc: lxml.html.HtmlElement) -> Iterator[tuple[str, str]]:
    for script in doc.xpath("//script[@type='application/ld+json']"):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        for item in _json_ld_items(data):
            kinds = item.get("@type")
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if not any(isinstance(k, str) and k.lower() in _PRODUCT_TYPES for k in kinds):
                continue
            for prop in PRODUCT_PROPERTIES:
                if prop in item and (value := _plain(item[prop])):
                    yield prop, value


def structured_facts(doc: lxml.html.HtmlElement) -> list[str]:
    """``"property: value"`` lines from schema.org microdata and JSON-LD product/offer data, first value wins."""
    found: dict[str, str] = {}
    for prop, value in [*_json_ld(doc), *_microdata(doc)]:
        found.setdefault(prop, _short_enum(value))
    if "price" in found and "priceCurrency" in found:
        found["price"] = f"{found['price']} {found.pop('priceCurrency')}"
    return [f"{prop}: {found[prop]}" for prop in PRODUCT_PROPERTIES if prop in found]


def _first(doc: lxml.html.HtmlElement | None, xpath: str) -> str:
    if doc is None:
        return ""
    values = [" ".join(str(v).split()) for v in doc.xpath(xpath) if str(v).strip()]
    return values[0] if values else ""


def choose_title(doc: lxml.html.HtmlElement | None, extracted: str) -> str:
    """The page title: ``og:title``; else trafilatura's title when the ``<title>`` confirms it (it is more
    precise, without the shop's name), else ``<title>``, else the first ``<h1>``.

    Trafilatura guesses titles from headings too, which on list pages can be a toolbar; requiring that the
    document title contains the guess rejects those.
    """
    og = _first(doc, "//meta[@property='og:title']/@content")
    if og:
        return og
    extracted = " ".join(extracted.split())
    head = _first(doc, "//title//text()")
    if extracted and (not head or extracted.casefold() in head.casefold()):
        return extracted
    return head or _first(doc, "//h1//text()")


def extract_html(html: str, url: str | None = None) -> ExtractedPage:
    """Title, product facts and main text of ``html`` (already decoded to ``str``)."""
    doc = _parse(html)
    result = trafilatura.bare_extraction(
        html,
        url=url,
        include_tables=True,
        include_comments=False,
        include_images=False,
        include_links=False,
        deduplicate=False,
        with_metadata=True,
        prune_xpath=PRUNE_XPATHS,
        config=_CONFIG,
    )
    text = _clean_lines(getattr(result, "text", None) or "") if result is not None else ""
    title = (getattr(result, "title", None) or "").strip() if result is not None else ""
    return ExtractedPage(
        title=choose_title(doc, title),
        text=text,
        facts=structured_facts(doc) if doc is not None else [],
    )
