"""``prgym distill`` and ``prgym judge`` as commands (mounted on a local typer app the way the lead mounts them)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from harness.cli import distill as distill_cmd
from harness.cli import judge as judge_cmd
from harness.judge import Criteria, criteria_from_rubric, criterion_ids
from harness.testing.openai_server import Reply, ScriptedOpenAIServer
from sandbox.recorder import read_traces


def _app() -> typer.Typer:
    app = typer.Typer()
    distill_cmd.register(app)
    judge_cmd.register(app)
    return app


def test_distill_command_writes_samples_and_a_summary(recorded, tmp_path: Path) -> None:
    path, _ = recorded
    out, decisions = tmp_path / "train.jsonl", tmp_path / "decisions.jsonl"
    result = CliRunner().invoke(
        _app(),
        ["distill", str(path.parent), "--out", str(out), "--min-score", "0.5", "--decisions", str(decisions)],
    )
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and "dropped: not_accepted" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and all(r["meta"]["teacher"] == "scripted" for r in rows)
    assert len(decisions.read_text().splitlines()) == 4
    bad = CliRunner().invoke(_app(), ["distill", str(tmp_path / "nope.jsonl"), "--out", str(out)])
    assert bad.exit_code == 2 and "no such traces file" in " ".join(bad.output.split())


def test_judge_command_scores_against_references(recorded, tmp_path: Path) -> None:
    path, _ = recorded
    traces = [t for t in read_traces(path) if t.accepted]
    ref_file = tmp_path / "ref" / "traces.jsonl"
    ref_file.parent.mkdir()
    ref_file.write_text(
        "".join(
            t.model_copy(update={"episode_id": "r-" + t.episode_id}).model_dump_json() + "\n" for t in traces
        )
    )

    def respond(request) -> Reply:
        text = request.body["messages"][1]["content"]
        task = next(t for t in traces if t.task["query"].strip() in text)
        criteria: Criteria = criteria_from_rubric(task.task["rubric"])
        rows = [{"id": cid, "target": 6, "reference": 4} for cid, _, _ in criterion_ids(criteria)]
        return Reply.text(json.dumps({"scores": rows}))

    with ScriptedOpenAIServer(responder=respond) as server:
        args = [
            "judge",
            str(path),
            "--reference",
            str(ref_file.parent),
            "--out",
            str(tmp_path / "j.jsonl"),
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--llm-set",
            f"base_url={server.base_url}",
            "--llm-set",
            "model=judge",
            "--llm-set",
            "max_retries=0",
        ]
        result = CliRunner().invoke(_app(), args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
        assert [r["status"] for r in rows] == [
            "ok",
            "failed",
            "ok",
            "ok",
        ]  # seed 1 submitted no accepted report
        assert (
            abs(rows[0]["score"]["relative"] - 0.6) < 1e-9
            and "RACE x100" in result.output
            and "60.00" in result.output
        )
        calls = len(server.requests)
        again = CliRunner().invoke(_app(), args, env={"COLUMNS": "200"})
        assert again.exit_code == 0 and len(server.requests) == calls and "cache hits 3" in again.output


def test_judge_without_a_model_says_in_one_line_how_to_give_one(recorded) -> None:
    """The README's ``prgym judge RUN --reference RUN`` without model settings: one line naming the flags, exit 2."""
    path, _ = recorded
    result = CliRunner().invoke(_app(), ["judge", str(path), "--reference", str(path)], env={"COLUMNS": "80"})
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: LLM config for role 'judge': no model given")
    for hint in ("--llm-set model=NAME", "--llm-set base_url=URL", "[judge] table", "PRGYM_JUDGE_MODEL"):
        assert hint in lines[0]
