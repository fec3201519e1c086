"""The report file without a browser: self-contained and inert, real figures, tolerant trace reading, safe
report rendering with citations and grounding verdicts, and the CLI's errors."""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.view import build_report
from harness.view.episode import episode_detail
from harness.view.load import load_run
from harness.view.report_html import render_report

RECORD = {
    "id": "shop:1",
    "title": "Kettle",
    "source": "shop",
    "brand": "Acme",
    "price": 20,
    "currency": "USD",
    "rating": 4.5,
}


def _page(view_run: Path, tmp_path: Path) -> tuple[str, dict]:
    out = tmp_path / "r.html"
    stats = build_report([view_run], out, distill=view_run / "train.jsonl")
    assert stats.bytes == out.stat().st_size > 0
    text = out.read_text(encoding="utf-8")
    index = json.loads(
        re.search(r'<script type="application/json" id="index">(.*?)</script>', text, re.S).group(1)
    )
    return text, index


def test_page_is_self_contained_and_allows_only_its_own_script(view_run, tmp_path) -> None:
    text, _ = _page(view_run, tmp_path)
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)  # nothing fetched
    executable = re.findall(r"<script>(.*?)</script>", text, re.S)
    assert len(executable) == 1
    digest = base64.b64encode(hashlib.sha256(executable[0].encode()).digest()).decode()
    policy = html.unescape(
        re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1)
    )
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy


def test_index_rows_are_the_runs_results_and_details_unpack(view_run, view_results, tmp_path) -> None:
    text, index = _page(view_run, tmp_path)
    assert [r["id"] for r in index["rows"]] == [r["episode_key"] for r in view_results]
    assert [r["reward"] for r in index["rows"]] == [r["reward"] for r in view_results]
    blob = re.search(r'id="ep-0">(.*?)</script>', text).group(1)
    detail = json.loads(gzip.decompress(base64.b64decode(blob)))
    assert detail["id"] == view_results[0]["episode_key"]
    assert detail["distill"] is not None  # the distill output is joined by episode id


def test_a_trace_without_steps_is_read_from_its_events(view_run, view_traces) -> None:
    # Schema 1 events carried copies of the messages (schema 2 stores them once, in the steps): rebuild a
    # schema-1 trace without steps from the steps.
    events = []
    for step in view_traces[0]["steps"]:
        turn = step["assistant"]
        events.append({"step": step["step"], "kind": "assistant", "role": "research_agent",
                       "content": turn.get("content"), "tool_calls": turn.get("tool_calls")})  # fmt: skip
        for m in step["tool_messages"]:
            events.append({"step": step["step"], "kind": "tool_result", "role": "tool", "content": m["content"],
                           "tool_result": {"call_id": m["tool_call_id"], "name": m["name"]}})  # fmt: skip
    final = dict(view_traces[0]["final_answer"] or {})
    final.pop("report_step", None)
    trace = dict(view_traces[0], steps=[], events=events, schema_version=1, final_answer=final)
    from_events = episode_detail(trace, {})
    from_steps = episode_detail(view_traces[0], {})
    names = lambda d: [c["name"] for i in d["timeline"] if i["type"] == "assistant" for c in i["calls"]]  # noqa: E731
    assert names(from_events) == names(from_steps) and names(from_steps)
    assert from_events["report"]["counts"] == from_steps["report"]["counts"]


def test_an_unreadable_trace_line_is_noted_and_kept(view_run, tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    trace = json.loads((view_run / "traces.jsonl").read_text(encoding="utf-8").splitlines()[0])
    trace["schema_version"] = 99
    (folder / "traces.jsonl").write_text(json.dumps(trace) + "\n{not json\n", encoding="utf-8")
    run = load_run(folder)
    assert list(run.traces) == [trace["episode_id"]]
    assert any("schema_version 99" in w for w in run.warnings) and any(":2:" in w for w in run.warnings)


def test_report_html_escapes_markup_and_links_citations() -> None:
    report = "<script>alert(1)</script> [x](javascript:alert(1)) ![i](https://e.example/i.png)\n\n- Kettle [P:shop:1]: price $20, rated 4.5/5."
    out = render_report(report, {"shop:1": RECORD})
    assert "<script" not in out["html"] and "&lt;script&gt;" in out["html"]
    assert (
        "javascript:" not in out["html"].replace("[x](javascript:alert(1))", "") and "<img" not in out["html"]
    )
    assert '<a href="#" class="cite" data-pid="shop:1">[P:shop:1]</a>' in out["html"]
    assert out["counts"] == {"agrees": 2, "disagrees": 0, "unverifiable": 0}


def test_a_wrong_price_is_marked_disagrees_on_its_claim() -> None:
    out = render_report("- Kettle [P:shop:1]: price $35.", {"shop:1": RECORD})
    assert out["counts"]["disagrees"] == 1
    claim = out["claims"][0]
    assert claim["kind"] == "price" and "$20" in claim["catalog"]
    assert 'class="gv v-disagrees"' in out["html"]
    assert (
        out["html"].index('<span class="claim">')
        < out["html"].index("price $35")
        < out["html"].index("v-disagrees")
    )


@pytest.mark.slow
def test_cli_writes_the_file_and_reports_its_size(view_run, tmp_path) -> None:
    out = tmp_path / "cli.html"
    done = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "view", str(view_run), "--out", str(out), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures = json.loads(done.stdout)
    assert figures["bytes"] == out.stat().st_size and figures["episodes"] == 4


@pytest.mark.slow
def test_cli_names_a_missing_run_folder_with_exit_code_2(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "view", str(tmp_path / "nope"), "--out", str(tmp_path / "x.html")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no such run folder" in done.stderr and "Traceback" not in done.stderr


def test_parallel_build_writes_the_same_file(view_run, tmp_path, monkeypatch) -> None:
    import harness.view.build as build

    sequential = build_report([view_run], tmp_path / "a.html", workers=1).path.read_text(encoding="utf-8")
    monkeypatch.setattr(build, "PARALLEL_FROM", 1)
    parallel = build_report([view_run], tmp_path / "b.html", workers=2).path.read_text(encoding="utf-8")
    assert parallel == sequential
