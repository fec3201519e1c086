"""Small inline SVG charts drawn in Python: histograms and stacked bars (no chart library, no network).

Every label goes through :func:`html.escape`, so policy names and component names from a run cannot inject
markup. Charts carry a ``<title>`` per bar, which browsers show on hover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def histogram(
    values: Sequence[float],
    *,
    title: str,
    bins: int = 10,
    lo: float | None = None,
    hi: float | None = None,
    integer: bool = False,
    width: int = 300,
    height: int = 130,
    color: str = PALETTE[0],
) -> str:
    """A histogram of ``values`` (``None``-free); integer data gets one bin per value when that fits."""
    head = f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
    if not values:
        return head + '<div class="empty">no data</div></figure>'
    lo = min(values) if lo is None else lo
    hi = max(values) if hi is None else hi
    if integer:
        lo, hi = math.floor(lo), math.ceil(hi)
        span = int(hi - lo) + 1
        bins = span if span <= 30 else bins
        edges = [lo + i * span / bins for i in range(bins + 1)]
    else:
        if hi <= lo:
            hi = lo + 1.0
        edges = [lo + i * (hi - lo) / bins for i in range(bins + 1)]
    counts = [0] * bins
    for v in values:
        i = int((v - edges[0]) / (edges[-1] - edges[0]) * bins) if edges[-1] > edges[0] else 0
        counts[min(max(i, 0), bins - 1)] += 1
    top = max(counts) or 1
    left, bottom, plot_h = 28, 18, height - 30
    bar_w = (width - left - 4) / bins
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    parts.append(
        f'<text x="2" y="12" class="ax">{top}</text><text x="2" y="{height - bottom}" class="ax">0</text>'
    )
    for i, count in enumerate(counts):
        h = plot_h * count / top
        x = left + i * bar_w
        y = height - bottom - h
        a, b = edges[i], edges[i + 1]
        label = f"{_fmt(a)}" if integer and b - a <= 1 else f"{_fmt(a)} to {_fmt(b)}"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" fill="{color}">'
            f"<title>{escape(label)}: {count}</title></rect>"
        )
    right = edges[-1] - 1 if integer else edges[-1]
    parts.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}" class="axl"/>'
        f'<text x="{left}" y="{height - 4}" class="ax">{escape(_fmt(edges[0]))}</text>'
        f'<text x="{width - 4}" y="{height - 4}" class="ax" text-anchor="end">{escape(_fmt(right))}</text>'
    )
    parts.append("</svg>")
    return head + "".join(parts) + f'<div class="note">n = {len(values)}</div></figure>'


def stacked_bars(
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    *,
    title: str,
    scale: float | None = None,
    width: int = 300,
) -> str:
    """One horizontal bar per row, split into named segments (e.g. weighted reward components)."""
    head = f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
    if not rows:
        return head + '<div class="empty">no data</div></figure>'
    names = list(dict.fromkeys(name for _, segments in rows for name, _ in segments))
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    total = scale or max((sum(v for _, v in segs) for _, segs in rows), default=1.0) or 1.0
    label_w, bar_h, gap = 90, 16, 6
    height = len(rows) * (bar_h + gap) + 4
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    for r, (label, segments) in enumerate(rows):
        y = 2 + r * (bar_h + gap)
        parts.append(
            f'<text x="0" y="{y + 12}" class="ax">{escape(label[:14])}<title>{escape(label)}</title></text>'
        )
        x = float(label_w)
        for name, value in segments:
            w = (width - label_w - 36) * max(value, 0.0) / total
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colors[name]}">'
                f"<title>{escape(name)}: {value:.3f}</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{x + 3:.1f}" y="{y + 12}" class="ax">{sum(v for _, v in segments):.2f}</text>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{colors[n]}"></i>{escape(n)}</span>' for n in names
    )
    return head + "".join(parts) + f'<div class="legend">{legend}</div></figure>'
