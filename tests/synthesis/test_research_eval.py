"""Research suites: frozen like shop-v2, scored by `prgym eval` (EPC, grounding, constraints, offline rubric) and,
with --judge, RACE-scored against a reference run through the scripted OpenAI-compatible server."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.eval import suites
from harness.eval.research import pick_reference_reports, rubric_score
from harness.testing.openai_server import RecordedRequest, Reply, ScriptedOpenAIServer
from sandbox.catalog.lexical import TantivyBackend
from sandbox.tasks.generator import generate_tasks
from sandbox.tasks.models import Rubric
from sandbox.tasks.taskset import TaskSet

TINY = {"name": "tiny-research", "version": 1, "kind": "research", "presets": ["webmall"], "seed": 2,
        "counts": {"research": 3}, "checksum": None}  # fmt: skip


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRGYM_DEBUG", raising=False)  # another test's `prgym --debug` may have set it


@pytest.fixture(scope="module")
def tiny_suite(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("suites")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(suites, "SUITES_DIR", root)
        (root / "tiny-research.json").write_text(json.dumps(TINY))
        result = CliRunner().invoke(
            app, ["bench", "build", "tiny-research", "--data-dir", str(shared_data), "--no-progress",
                  "--out", str(root / "built")],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    return root / "built"


def test_offline_rubric_score_is_the_weighted_share_of_met_criteria() -> None:
    rubric = Rubric.model_validate(
        {
            "dimensions": [
                {"name": "a", "weight": 0.75, "criteria": [
                    {"text": "x", "weight": 3, "keywords": ["compare"]},
                    {"text": "y", "weight": 1, "keywords": ["price"]}]},
                {"name": "b", "weight": 0.25, "criteria": [{"text": "z", "weight": 1, "keywords": ["|"]}]},
            ]
        }
    )  # fmt: skip
    assert rubric_score("We compare them.", rubric) == pytest.approx(0.75 * 3 / 4)
    assert rubric_score("compare | price", rubric) == pytest.approx(1.0)
    assert rubric_score("comparesque", rubric) == 0.0  # whole words only
    assert rubric_score(None, rubric) == 0.0


def test_the_reference_report_is_the_accepted_then_best_episode() -> None:
    episodes = [
        {"task_id": "t", "trial": 0, "accepted": False, "reward": 0.9, "report": "A"},
        {"task_id": "t", "trial": 1, "accepted": True, "reward": 0.5, "report": "B"},
        {"task_id": "u", "trial": 0, "accepted": True, "reward": 0.5, "report": None},
    ]
    assert pick_reference_reports(episodes) == {"t": "B"}


def test_research_v2_is_frozen_and_rebuilds_byte_identically(small_snapshot: Path, tmp_path: Path) -> None:
    config = suites.load_suite("research-v2")
    assert config.kind == "research" and config.checksum
    backend = TantivyBackend(small_snapshot)  # the same presets as research-v2, so the same snapshot
    tasks = generate_tasks(backend, config.counts["research"], config.seed, min_products=config.min_products)
    path = TaskSet(tasks).save(tmp_path / "tasks.jsonl")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == config.checksum


def test_a_research_suite_builds_with_a_manifest_and_checks_its_checksum(
    tiny_suite: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = json.loads((tiny_suite / "suite.json").read_text())
    assert manifest["kind"] == "research" and manifest["counts"] == {"research": 3}
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    (tmp_path / "tiny-research.json").write_text(json.dumps({**TINY, "checksum": manifest["checksum"]}))
    args = ["bench", "build", "tiny-research", "--data-dir", str(shared_data), "--no-progress", "--out"]
    again = CliRunner().invoke(app, [*args, str(tmp_path / "b")])
    assert again.exit_code == 0 and "matches the frozen checksum" in again.output
    assert (tmp_path / "b" / "tasks.jsonl").read_bytes() == (tiny_suite / "tasks.jsonl").read_bytes()
    (tmp_path / "bad.json").write_text(json.dumps({**TINY, "name": "bad", "counts": {"product": 2}}))
    bad = CliRunner().invoke(app, [*args[:2], "bad", *args[3:], str(tmp_path / "c")])
    assert bad.exit_code == 2 and "counts only 'research' tasks" in bad.output


def _eval(suite: Path, out: Path | None, *extra: str):
    args = ["eval", "--catalog", str(suite / "catalog"), "--suite", str(suite), "--no-progress"]
    return CliRunner().invoke(app, [*args, *(["--out", str(out)] if out else []), *extra])


def test_eval_reports_research_figures_and_keeps_the_reports(tiny_suite: Path, tmp_path: Path) -> None:
    result = _eval(tiny_suite, tmp_path / "scripted", "--policy", "scripted")
    assert result.exit_code == 0, result.output
    assert "rubric score (offline)" in result.output
    data = json.loads((tmp_path / "scripted" / "eval.json").read_text())
    research = data["summary"]["research"]
    assert research["tasks"] == 3 and research["epc"] >= 3 and research["epc_ok"] >= 3
    assert research["constraints"] == 1.0 and 0 < research["rubric"] <= 1 and research["race"] is None
    assert all(e["report"] and e["report"].startswith("# Research report") for e in data["episodes"])
    oracle = _eval(tiny_suite, None, "--policy", "oracle")
    assert oracle.exit_code == 2 and "shopping tasks only" in oracle.output
    no_ref = _eval(tiny_suite, None, "--policy", "scripted", "--judge", "openai:j")
    assert no_ref.exit_code == 2 and "--reference" in no_ref.output


_CRITERION = re.compile(r"^- (\S+): ", re.MULTILINE)


def _judge_reply(request: RecordedRequest, target: float = 8, reference: float = 4) -> Reply:
    prompt = request.body["messages"][-1]["content"]
    ids = _CRITERION.findall(prompt.split("Criteria (id: text):", 1)[1].split("\n\n", 1)[0])
    rows = [{"id": cid, "target": target, "reference": reference} for cid in ids]
    return Reply.text(json.dumps({"scores": rows}))


def test_judge_scores_reports_against_the_reference_run(tiny_suite: Path, tmp_path: Path) -> None:
    reference = tmp_path / "ref"
    assert _eval(tiny_suite, reference, "--policy", "scripted").exit_code == 0
    with ScriptedOpenAIServer(responder=_judge_reply) as server:
        judge = ["--judge", "openai:judge-m", "--reference", str(reference),
                 "--judge-set", f"base_url={server.base_url}", "--judge-set", "api_key=sk-test"]  # fmt: skip
        first = _eval(tiny_suite, tmp_path / "judged", "--policy", "scripted", *judge)
        assert first.exit_code == 0, first.output
        calls = len(server.chat_requests())
        again = _eval(tiny_suite, tmp_path / "judged", "--policy", "scripted", *judge)
        assert again.exit_code == 0 and len(server.chat_requests()) == calls  # every judgement from the cache
    assert calls == 3 and all(r.body["model"] == "judge-m" for r in server.chat_requests())
    data = json.loads((tmp_path / "judged" / "eval.json").read_text())
    assert data["judge"] == {"model": "judge-m", "reference": str(reference)}
    assert data["summary"]["research"]["race"] == pytest.approx(8 / 12)
    assert data["summary"]["research"]["judged"] == 3
    assert all(e["race"] == pytest.approx(8 / 12) and e["judge_error"] is None for e in data["episodes"])
    # the leaderboard ranks research runs by their report figures, judged runs first, naming the reference
    board = CliRunner().invoke(app, ["eval", "compare", str(reference), str(tmp_path / "judged")])
    assert board.exit_code == 0, board.output
    rows = [line.split(" | ") for line in board.output.splitlines() if line.startswith("| ")]
    header = [c.strip("| ") for c in rows[0]]
    assert header[-4:] == ["RACE", "judged", "reference", "steps"] and "ASR" not in board.output
    judged, plain = ({h: c.strip("| ") for h, c in zip(header, row, strict=True)} for row in rows[1:])
    assert (judged["RACE"], judged["judged"], judged["reference"]) == ("0.667", "3", "ref")
    assert (plain["RACE"], plain["reference"]) == ("-", "-")
    assert judged["rubric"] == plain["rubric"] == f"{data['summary']['research']['rubric']:.3f}"


def test_a_malformed_judge_reply_is_a_kept_failure_not_a_crash(tiny_suite: Path, tmp_path: Path) -> None:
    reference = tmp_path / "ref"
    assert _eval(tiny_suite, reference, "--policy", "scripted").exit_code == 0
    with ScriptedOpenAIServer(responder=lambda r: Reply.text("I think both are fine.")) as server:
        result = _eval(
            tiny_suite, tmp_path / "bad", "--policy", "scripted", "--judge", "openai:judge-m",
            "--reference", str(reference), "--judge-set", f"base_url={server.base_url}",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "bad" / "eval.json").read_text())
    assert data["summary"]["research"]["race"] is None and data["summary"]["research"]["judged"] == 0
    assert all(e["judge_error"].startswith("malformed_scores") for e in data["episodes"])
