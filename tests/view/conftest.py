"""Run folders for the viewer tests: a scripted run with critiques and revisions (plus its distill output), and
a copy whose trace carries hostile markup in page text, catalog text, the task and the report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.view.demo_runs import demo_tasks, scripted_run
from sandbox.recorder import EpisodeTrace

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture(scope="session")
def view_run(small_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four scripted episodes (two with a rubric critique and a revised report) and a distill output."""
    out = tmp_path_factory.mktemp("view_run") / "scripted-run"
    scripted_run(small_snapshot, demo_tasks(small_snapshot, 4, seed=3, critique_every=2), out, concurrency=2)
    subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "distill", str(out),
         "--out", str(out / "train.jsonl"), "--decisions", str(out / "decisions.jsonl"), "--min-grounding", "0"],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


def _inject(trace: dict[str, Any]) -> dict[str, Any]:
    """Hostile text where a page, the catalog, the user and the agent put text."""
    trace["task"]["query"] += " " + HOSTILE
    for step in trace["steps"]:
        for message in step["tool_messages"]:
            if message["name"] == "visit_product":
                payload = json.loads(message["content"])
                payload["products"][0]["title"] = "Evil " + HOSTILE
                payload["products"][0]["description"] = HOSTILE
                message["content"] = json.dumps(payload)
    first = trace["steps"][1]
    first["assistant"].setdefault("tool_calls", []).append(
        {"id": "call_evil", "type": "function",
         "function": {"name": "web_visit", "arguments": json.dumps({"urls": ["https://evil.example/"], "goal": HOSTILE})}}
    )  # fmt: skip
    first["tool_messages"].append(
        {"role": "tool", "tool_call_id": "call_evil", "name": "web_visit",
         "content": json.dumps({"pages": [{"url": "https://evil.example/", "evidence": HOSTILE, "summary": HOSTILE}]})}
    )  # fmt: skip
    pid = trace["metrics"]["cited_ids"][0]
    final = trace[
        "final_answer"
    ]  # schema 2 names the report's step; the hostile copy goes in the answer itself
    final["report"] = (final.get("report") or EpisodeTrace.model_validate(trace).report or "") + (
        f"\n\n- {HOSTILE} [P:{pid}] [P:{pid}{HOSTILE}]\n\n<script>window.__pwned=3</script>\n"
    )
    return trace


@pytest.fixture(scope="session")
def hostile_run(view_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of :func:`view_run` whose first trace carries ``<script>`` and ``<img onerror>`` everywhere."""
    out = tmp_path_factory.mktemp("hostile") / "hostile-run"
    shutil.copytree(view_run, out)
    lines = (out / "traces.jsonl").read_text(encoding="utf-8").splitlines()
    lines[0] = json.dumps(_inject(json.loads(lines[0])))
    (out / "traces.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def view_traces(view_run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (view_run / "traces.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def view_results(view_run: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (view_run / "results.jsonl").read_text(encoding="utf-8").splitlines()
    ]
