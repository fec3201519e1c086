"""Assemble the self-contained report: one HTML file with inline styles, one inline script and the data.

Safety: the only script that runs is the viewer's own (``static/viewer.js``), allowed by hash in a
Content-Security-Policy that forbids everything else (no other inline script, no event-handler attributes, no
network, images only as ``data:``). Data sits in non-executed ``<script type="application/json">`` blocks with
``<``, ``>`` and ``&`` escaped, so no trace text can close the block. The viewer inserts strings with
``textContent``; the final report's HTML comes from :mod:`harness.view.report_html`, which escapes it.

Scale: the episode list (a few hundred bytes per episode) is parsed when the page opens; each episode's
detail is a separate gzip + base64 block that the page decompresses (``DecompressionStream``) only when the
episode is opened, so a 1,000-episode run opens in about the time it takes to read the file.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from html import escape
from importlib import resources
from typing import Any

_STATIC = resources.files("harness.view") / "static"


def _static(name: str) -> str:
    return (_STATIC / name).read_text(encoding="utf-8")


def json_for_script(value: Any) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` block."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def packed(value: Any) -> str:
    """An episode's detail as base64 of gzipped JSON (a-z A-Z 0-9 + / = only: inert in HTML)."""
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def build_page(
    *, title: str, overview_html: str, index: dict[str, Any], details: list[str], subtitle: str
) -> str:
    """The whole page. ``details[i]`` is :func:`packed` detail of ``index['rows'][i]``."""
    script = _static("viewer.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = (
        "default-src 'none'; "
        f"script-src 'sha256-{digest}'; "
        "style-src 'unsafe-inline'; img-src data:; "
        "connect-src 'none'; form-action 'none'; base-uri 'none'"
    )
    blocks = "".join(
        f'<script type="application/octet-stream" id="ep-{i}">{blob}</script>\n'
        for i, blob in enumerate(details)
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_static('viewer.css')}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><div class="sub">{escape(subtitle)}</div>'
        '<nav><a href="#overview" data-nav="overview">overview</a><a href="#episodes" data-nav="episodes">episodes</a></nav></header>'
        f'<main><div id="overview" class="view">{overview_html}</div>'
        '<div id="episodes" class="view"></div><div id="episode" class="view"></div></main>'
        '<aside id="record" hidden></aside>'
        f'<script type="application/json" id="index">{json_for_script(index)}</script>\n{blocks}'
        f"<script>{script}</script></body></html>\n"
    )
