"""Headless Chromium for checking reports (tests, the view benchmark, the README screenshots).

Uses Playwright for Python with the system's Chromium (Debian's ``chromium`` package): Playwright's own browser
download is not needed. Install with ``pip install 'prgym[view]'`` and ``apt-get install chromium``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The Chromium binary: ``$PRGYM_CHROMIUM``, else ``/usr/bin/chromium`` or one on PATH; ``None`` if absent."""
    for candidate in (os.environ.get("PRGYM_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable() -> str | None:
    """Why a browser cannot be driven here (``None`` when it can)."""
    if chromium_path() is None:
        return "chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install 'prgym[view]')"
    return None


@contextmanager
def browser() -> Iterator[Any]:
    """A launched headless Chromium (a Playwright ``Browser``), closed on exit."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError(unavailable() or "no chromium")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, args=LAUNCH_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()
