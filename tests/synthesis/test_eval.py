"""``prgym eval`` on synthesized tasks over the real small catalog: the oracle reaches ASR 1.0 through the env,
the random policy is the floor, eval.json and the leaderboard; frozen suites rebuild byte-identically."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.eval import suites
from harness.eval.policies import OraclePolicy, RandomPolicy
from harness.eval.runner import EpisodeScore, evaluate, summarize
from sandbox.catalog.lexical import TantivyBackend
from sandbox.tasks.synthesis import CatalogPool, SynthesisConfig, synthesize_tasks
from sandbox.tasks.taskset import TaskSet


@pytest.fixture(scope="module")
def task_file(small_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    backend = TantivyBackend(small_snapshot)
    pool = CatalogPool.from_store(backend.snapshot.store)
    report = synthesize_tasks(
        backend, SynthesisConfig(counts={"product": 4, "shop": 4, "voucher": 4}, seed=7), pool=pool
    )
    return TaskSet(report.tasks).save(tmp_path_factory.mktemp("eval") / "tasks.jsonl")


def test_oracle_solves_every_synthesized_task_through_the_env(small_snapshot: Path, task_file: Path) -> None:
    tasks = TaskSet.load(task_file)
    scores = asyncio.run(evaluate(small_snapshot, tasks, lambda task, seed: OraclePolicy(task), trials=2))
    summary = summarize(scores, trials=2)
    assert all(s.error is None for s in scores)
    assert summary["all"].asr == 1.0 and summary["all"].pass_k == 1.0 and summary["all"].car == 1.0
    assert set(summary) == {"product", "shop", "voucher", "all"}
    assert summary["all"].fields == {"title": 1.0, "price": 1.0, "service": 1.0, "sku & attrs": 1.0}
    assert summary["all"].tool_calls == 1.0 and summary["all"].steps == 2.0


def test_random_policy_is_a_floor(small_snapshot: Path, task_file: Path) -> None:
    tasks = TaskSet.load(task_file)
    scores = asyncio.run(evaluate(small_snapshot, tasks, lambda task, seed: RandomPolicy(task, seed)))
    assert summarize(scores, 1)["all"].asr < 0.5


def test_eval_cli_writes_eval_json_and_compare_ranks_runs(
    small_snapshot: Path, task_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRGYM_DEBUG", raising=False)  # another test's `prgym --debug` may have set it
    runner = CliRunner()
    outputs = {}
    for policy in ("oracle", "random"):
        result = runner.invoke(
            app,
            ["eval", "--catalog", str(small_snapshot), "--tasks", str(task_file), "--policy", policy,
             "--out", str(tmp_path / policy), "--no-progress", "--limit", "4"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs[policy] = result.output
    # the table keeps its natural width: CliRunner's 80 columns used to squeeze every figure to "1.…"
    table = [line for line in outputs["oracle"].splitlines() if line.startswith("│ ")]
    row = next(line for line in table if line.startswith("│ all"))
    assert not any("…" in line for line in table) and row.count("1.000") >= 8, outputs["oracle"]
    data = json.loads((tmp_path / "oracle" / "eval.json").read_text())
    assert data["summary"]["all"]["asr"] == 1.0 and data["snapshot_id"].startswith("cat-")
    board = runner.invoke(app, ["eval", "compare", str(tmp_path / "random"), str(tmp_path / "oracle")])
    assert board.exit_code == 0
    rows = [line for line in board.output.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| oracle") and rows[2].startswith("| random")
    bad = runner.invoke(
        app, ["eval", "--catalog", str(small_snapshot), "--tasks", str(task_file), "--policy", "nope"]
    )
    assert bad.exit_code == 2 and "expected oracle or random or scripted or openai:MODEL" in bad.output
    (tmp_path / "junk.json").write_text('{"policy": "x"}')
    junk = runner.invoke(app, ["eval", "compare", str(tmp_path / "junk.json")])
    assert junk.exit_code == 2 and "not an eval.json" in junk.output and "summary" in junk.output


def test_field_scores_average_over_the_intents_that_report_them() -> None:
    shop_fields = {"title": 1.0, "price": 1.0, "service": 1.0, "sku & attrs": 1.0}
    scores = [
        EpisodeScore(task_id="p", intent="product", trial=0, success=True, fields=shop_fields),
        EpisodeScore(task_id="e", intent="product", trial=0, error="RuntimeError: boom"),
        EpisodeScore(
            task_id="k", intent="knowledge", trial=0, success=True, fields={"kw": 1.0, "title": 1.0}
        ),
        EpisodeScore(task_id="r", intent="research", trial=0),
    ]
    summary = summarize(scores, 1)
    # an errored product episode counts 0 in the product fields; web and research episodes do not report price
    assert summary["product"].fields["price"] == 0.5
    assert summary["all"].fields["price"] == 0.5 and summary["all"].fields["kw"] == 1.0
    assert summary["all"].fields["title"] == pytest.approx(2 / 3)


def test_bench_build_is_byte_identical_and_checks_its_checksum(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRGYM_DEBUG", raising=False)
    config = {"name": "tiny", "version": 1, "presets": ["webmall"], "seed": 1,
              "counts": {"product": 3, "shop": 3, "voucher": 2}, "checksum": None}  # fmt: skip
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    (tmp_path / "tiny.json").write_text(json.dumps(config))
    runner = CliRunner()
    args = ["bench", "build", "tiny", "--data-dir", str(shared_data), "--no-progress", "--out"]
    first = runner.invoke(app, [*args, str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    manifest = json.loads((tmp_path / "a" / "suite.json").read_text())
    (tmp_path / "tiny.json").write_text(json.dumps({**config, "checksum": manifest["checksum"]}))
    second = runner.invoke(app, [*args, str(tmp_path / "b")])
    assert second.exit_code == 0 and "matches the frozen checksum" in second.output
    assert (tmp_path / "a" / "tasks.jsonl").read_bytes() == (tmp_path / "b" / "tasks.jsonl").read_bytes()
    assert json.loads((tmp_path / "b" / "suite.json").read_text())["snapshot_id"] == manifest["snapshot_id"]
    (tmp_path / "tiny.json").write_text(json.dumps({**config, "checksum": "0" * 64}))
    changed = runner.invoke(app, [*args, str(tmp_path / "c")])
    assert changed.exit_code == 2 and "differs from the frozen" in changed.output
    # results name the suite version
    result = runner.invoke(
        app, ["eval", "--catalog", str(tmp_path / "a" / "catalog"), "--suite", str(tmp_path / "a"),
              "--policy", "oracle", "--no-progress", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["suite"], data["suite_version"], data["summary"]["all"]["asr"]) == ("tiny", 1, 1.0)


def test_a_mixed_run_is_on_both_leaderboards_with_shopping_figures_over_shopping_episodes() -> None:
    from harness.cli.eval import research_board, shopping_board

    def part(asr: float, episodes: int, steps: float) -> dict:
        return {"asr": asr, "car": asr, "steps": steps, "episodes": episodes, "tasks": episodes}

    research = {**part(0.0, 2, 6.0), "reward": 0.9, "accepted": 1.0, "epc": 4.0, "epc_ok": 3.0,
                "grounding": 1.0, "constraints": 1.0, "rubric": 0.5, "race": None, "judged": 0}  # fmt: skip
    run = {"policy": "p", "snapshot_id": "cat-0123456789abcdef", "trials": 1, "tasks": "mixed.jsonl",
           "summary": {"product": part(1.0, 3, 2.0), "shop": part(0.0, 1, 10.0), "research": research,
                       "all": part(0.5, 6, 4.67)}}  # fmt: skip
    shop = shopping_board([run])
    # shopping "all" over the 4 shopping episodes (3 of them successful), not the 6 with research
    assert shop[0].split(" | ")[-3:] == ["all ASR", "CAR", "steps |"]
    assert shop[2] == "| p | mixed.jsonl | cat-01234567 | 1 | 1.000 | 0.000 | 0.750 | 0.750 | 4.0 |"
    assert research_board([run])[2].startswith(
        "| p | mixed.jsonl | cat-01234567 | 1 | 2 | 0.900 | 1.000 | 4.00"
    )


def test_bench_build_reads_the_data_folder_prgym_data_dir_names(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like every data reader (issue 15): --data-dir, then PRGYM_DATA_DIR, then ../shared/data."""
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    config = {"name": "tiny", "version": 1, "presets": ["webmall"], "seed": 1,
              "counts": {"product": 2, "shop": 1, "voucher": 1}, "checksum": None}  # fmt: skip
    (tmp_path / "tiny.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)  # no ../shared/data here
    args = ["bench", "build", "tiny", "--no-progress", "--out"]
    monkeypatch.setenv("PRGYM_DATA_DIR", str(tmp_path / "nowhere"))
    missing = CliRunner().invoke(app, [*args, str(tmp_path / "a")])
    assert missing.exit_code == 2 and "PRGYM_DATA_DIR" in missing.output and "nowhere" in missing.output
    monkeypatch.setenv("PRGYM_DATA_DIR", str(shared_data))
    built = CliRunner().invoke(app, [*args, str(tmp_path / "b")])
    assert built.exit_code == 0, built.output
    assert (tmp_path / "b" / "suite.json").is_file()
