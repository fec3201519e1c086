"""Regenerate the README's screenshots of ``prgym view`` (docs/img/view-overview.png, docs/img/view-episode.png).

A demo run anyone can repeat: the demo catalog, six user-agent tasks (seed 0; every second one makes the
supervisor critique the first report, see :mod:`harness.view.demo_runs`), the scripted baseline, ``prgym distill``,
then ``prgym view``, opened in headless Chromium.

    PRGYM_DATA_DIR=../shared/data python scripts/view_screenshots.py [--workdir DIR] [--out docs/img]

Needs ``apt-get install chromium`` and ``pip install 'prgym[view]'``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console

import harness.cli  # noqa: F401  (first: importing harness.demo alone is circular today)
from catalog_loader.datahome import resolve_data_dir
from catalog_loader.fetch import ensure_datasets
from harness.demo import DEMO_PRESETS, demo_snapshot
from harness.view import build_report
from harness.view.browser import browser, unavailable
from harness.view.demo_runs import demo_tasks, scripted_run

VIEWPORT = {"width": 1200, "height": 760}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Catalog and run folder (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img")
    args = parser.parse_args()
    if unavailable():
        sys.exit(f"error: {unavailable()}")
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="prgym-shots-") as tmp:
        workdir = args.workdir or Path(tmp)
        home = ensure_datasets(list(DEMO_PRESETS), resolve_data_dir(None), console=console)
        snapshot = demo_snapshot(home, workdir, console)
        run = workdir / "runs" / "view-demo"
        scripted_run(snapshot, demo_tasks(snapshot, 6, seed=0, critique_every=2), run)
        subprocess.run(
            [sys.executable, "-c", "from harness.cli import main; main()", "distill", str(run),
             "--out", str(run / "train.jsonl"), "--decisions", str(run / "decisions.jsonl")],
            check=True, capture_output=True,
        )  # fmt: skip
        report = build_report([run], workdir / "report.html", distill=run / "train.jsonl")
        args.out.mkdir(parents=True, exist_ok=True)
        with browser() as chromium:
            page = chromium.new_page(viewport=VIEWPORT)
            page.goto(report.path.resolve().as_uri())
            page.wait_for_selector("body[data-ready='1'] tr.row")
            page.screenshot(path=str(args.out / "view-overview.png"))
            # the first episode whose report the supervisor rejected: its critique, then the revision diff
            page.locator("tr.row").nth(0).wait_for()
            for i in range(page.locator("tr.row").count()):
                page.locator("tr.row").nth(i).click()
                page.wait_for_selector("section.timeline")
                if page.locator(".item.revision").count():
                    break
                page.evaluate("location.hash = '#episodes'")
            target = page.locator("section.timeline .item.supervisor.fail").last
            target.scroll_into_view_if_needed()
            page.evaluate("window.scrollBy(0, -120)")
            page.screenshot(path=str(args.out / "view-episode.png"))
    for name in ("view-overview.png", "view-episode.png"):
        path = args.out / name
        console.print(f"wrote {path} ({path.stat().st_size / 1000:.0f} KB)")


if __name__ == "__main__":
    main()
