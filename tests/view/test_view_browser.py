"""The report in a real browser (headless Chromium via Playwright): counts, episode timeline, citations,
filters, and that hostile text in a trace executes nothing. Screenshots go to each test's temp folder."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.view import build_report
from harness.view.browser import browser, unavailable

REASON = unavailable()
if REASON and os.environ.get("CI") == "true":
    raise RuntimeError(f"CI must run the browser tests: {REASON} (.ci/run installs chromium and playwright)")
pytestmark = [pytest.mark.skipif(REASON is not None, reason=REASON or ""), pytest.mark.slow]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as launched:
        yield launched


class Page:
    """A page that records console errors and uncaught exceptions."""

    def __init__(self, chromium: Any, path: Path) -> None:
        self.page = chromium.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("body[data-ready='1'] tr.row")

    def open_episode(self, task_id: str) -> None:
        self.page.click(f'tr.row:has-text("{task_id}")')
        self.page.wait_for_selector("section.timeline")

    def close(self) -> None:
        assert self.errors == [], f"console errors: {self.errors}"
        self.page.close()


@pytest.fixture(scope="module")
def report(view_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    build_report([view_run], out, distill=view_run / "train.jsonl")
    return out


def _critiqued(traces: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        t
        for t in traces
        if any(not v["passed"] and v["kind"] == "answer" for s in t["steps"] for v in s["verdicts"])
    )


def test_overview_shows_the_runs_real_counts(chromium, report, view_results, tmp_path) -> None:
    page = Page(chromium, report)
    card = lambda name: page.page.inner_text(f'.card[data-count="{name}"] b')  # noqa: E731
    assert card("episodes") == str(len(view_results))
    assert card("completed") == str(sum(r["status"] == "completed" for r in view_results))
    assert card("accepted") == str(sum(bool(r["info"].get("accepted")) for r in view_results))
    mean = sum(r["reward"] for r in view_results) / len(view_results)
    assert card("mean reward") == f"{mean:.3f}"
    assert page.page.locator("tr.row").count() == len(view_results)
    assert page.page.locator("figure.chart svg").count() >= 6
    page.page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    assert (tmp_path / "overview.png").stat().st_size > 10_000
    page.close()


def test_episode_shows_tool_calls_critiques_and_revisions(chromium, report, view_traces, tmp_path) -> None:
    trace = _critiqued(view_traces)
    page = Page(chromium, report)
    page.open_episode(trace["task_id"])
    tools = page.page.locator(".call .tool").all_inner_texts()
    expected = [c["function"]["name"] for s in trace["steps"] for c in s["assistant"].get("tool_calls") or []]
    assert tools[: len(expected)] == expected  # the timeline, then the distill view's raw column
    rejected = [v for s in trace["steps"] for v in s["verdicts"] if not v["passed"]]
    critiques = page.page.locator("section.timeline .item.supervisor.fail .critique").all_inner_texts()
    assert len(critiques) == sum(len(v["critiques"]) for v in rejected)
    assert any(rejected[0]["critiques"][0]["message"] in text for text in critiques)
    added = page.page.locator("section.timeline .item.revision .d.dadd").all_inner_texts()
    assert any("aftercare" in line.lower() for line in added)  # the section the critique asked for
    page.page.locator("section.timeline details.full summary").first.click()
    assert page.page.locator("section.timeline details.full pre").first.is_visible()
    assert page.page.locator("section.distill .msg").count() > 0
    page.page.screenshot(path=str(tmp_path / "episode.png"), full_page=True)
    page.close()


def test_citation_opens_the_product_record(chromium, report, view_traces) -> None:
    trace = view_traces[0]
    page = Page(chromium, report)
    page.open_episode(trace["task_id"])
    link = page.page.locator("section.report a.cite").first
    pid = link.get_attribute("data-pid")
    link.click()
    panel = page.page.locator("#record")
    assert panel.is_visible()
    visited = {
        p["id"]: p
        for s in trace["steps"]
        for m in s["tool_messages"]
        if m["name"] == "visit_product"
        for p in json.loads(m["content"])["products"]
    }
    assert page.page.inner_text("#record .rec-title") == visited[pid]["title"]
    assert pid in panel.inner_text()
    assert page.page.locator("section.report sup.gv").count() > 0  # grounding verdicts on claims
    page.close()


def test_filters_and_sorting_change_the_visible_rows(chromium, report, view_results) -> None:
    page = Page(chromium, report)
    rows = page.page.locator("tr.row")
    total = rows.count()
    page.page.fill("#f-text", view_results[0]["task_id"])
    assert rows.count() == 1
    page.page.fill("#f-text", "")
    page.page.fill("#f-min", "1.01")
    assert rows.count() == 0
    page.page.fill("#f-min", "")
    page.page.select_option("#f-status", "failed")
    assert rows.count() == sum(r["status"] == "failed" for r in view_results)
    page.page.select_option("#f-status", "accepted")
    assert rows.count() == sum(bool(r["info"].get("accepted")) for r in view_results)
    page.page.select_option("#f-status", "")
    assert rows.count() == total
    page.page.click('th[data-key="reward"]')  # ascending after the default descending
    rewards = [float(x) for x in page.page.locator("tr.row td:nth-child(5)").all_inner_texts()]
    assert rewards == sorted(rewards)
    page.close()


def test_hostile_text_in_a_trace_executes_nothing(chromium, hostile_run, tmp_path) -> None:
    out = tmp_path / "hostile.html"
    build_report([hostile_run], out)
    trace = json.loads((hostile_run / "traces.jsonl").read_text(encoding="utf-8").splitlines()[0])
    page = Page(chromium, out)
    page.open_episode(trace["task_id"])
    for summary in page.page.locator("details summary").all():
        summary.click()
    evil = next(
        json.loads(m["content"])["products"][0]["id"]
        for s in trace["steps"]
        for m in s["tool_messages"]
        if m["name"] == "visit_product"
    )
    page.page.locator(f'section.report a.cite[data-pid="{evil}"]').first.click()
    assert page.page.evaluate("typeof window.__pwned") == "undefined"
    assert page.page.locator("main img, #record img, main script, #record script").count() == 0
    text = page.page.inner_text("#episode")
    assert "<script>window.__pwned=1</script>" in text  # shown as text, not run
    assert "Evil <script>" in page.page.inner_text("#record")
    page.page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)
    page.close()
