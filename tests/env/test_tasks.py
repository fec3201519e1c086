"""Task models, constraints on real products, the one seeded generator, JSONL task sets with splits, prgym tasks."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from sandbox.tasks import (
    HardConstraints,
    ResearchTask,
    Rubric,
    RubricDimension,
    TaskSet,
    TaskSetFormatError,
    generate_task,
    generate_tasks,
    load_shoppingbench,
    load_tasks,
    parse_task,
    research_task,
)
from sandbox.tasks.feasibility import feasible_products, nice_budget
from sandbox.tasks.models import RubricCriterion, format_money


def test_rubric_weights_must_sum_to_one() -> None:
    criterion = [RubricCriterion(text="x")]
    with pytest.raises(ValidationError, match="sum to 1"):
        Rubric(dimensions=[RubricDimension(name="depth", weight=0.5, criteria=criterion)])
    with pytest.raises(ValidationError, match="unique"):
        Rubric(dimensions=[RubricDimension(name="d", weight=0.5, criteria=criterion)] * 2)


def test_constraints_on_real_products(backend) -> None:
    (bow,) = backend.get_products(["shoppingbench:3706669986"])
    ok = HardConstraints(
        budget_max=Decimal("300"),
        currency="PHP",
        category="Media, Music & Books > Musical Instruments",
        brands=["heart string"],
        must_have=["horsetail"],
        services=["cod"],
    )
    assert ok.check(bow) == [] and ok.satisfied_by(bow)
    strict = ok.model_copy(
        update={
            "budget_max": Decimal("200"),
            "currency": "PHP",
            "must_have": ["carbon fibre"],
            "min_rating": 4.0,
        }
    )
    names = [v.constraint for v in strict.check(bow)]
    assert names == ["budget", "must_have:carbon fibre", "rating"]
    assert "costs PHP 256, over the budget of PHP 200" in strict.check(bow)[0].message
    usd = ok.model_copy(update={"currency": "USD"})
    assert "priced in PHP, the budget is in USD" in usd.check(bow)[0].message


def test_describe_and_coverage() -> None:
    constraints = HardConstraints(
        budget_max=Decimal("32999"), currency="INR", category="Audio > Headphones", must_have=["wireless"]
    )
    assert constraints.describe() == [
        ("budget", "price at most ₹32,999"),
        ("category", "in the category 'Audio > Headphones'"),
        ("must_have:wireless", "must have: wireless"),
    ]
    assert constraints.uncovered("Wireless headphones under ₹32,999") == []
    assert [n for n, _ in constraints.uncovered("some headphones")] == ["budget", "must_have:wireless"]
    assert constraints.uncovered("costs 132999 and is a wireless headphone") == [
        ("budget", "price at most ₹32,999")
    ]
    filters = constraints.to_filters()
    assert filters.price_max == 32999 and filters.category == "Audio > Headphones"


def test_money_and_budget_formatting() -> None:
    assert format_money(Decimal("49.99"), "USD") == "$49.99"
    assert format_money(32999, "INR") == "₹32,999"
    assert format_money(256, "PHP") == "PHP 256"
    assert format_money(12.5, None) == "12.50"
    assert [str(nice_budget(x)) for x in (37, 1234, 48.5, 3391.2)] == ["40", "1250", "50", "3500"]


def test_generator_is_seeded_and_feasible(backend) -> None:
    first = research_task(backend, np.random.default_rng(42))  # the env's path: its own np_random
    again = research_task(backend, np.random.default_rng(42))
    assert first == again and first.task_id == f"ua-{first.meta['history']['anchor_id']}"
    other = research_task(backend, np.random.default_rng(43))
    assert other != first
    indexed = generate_task(backend, 42, 0)
    assert indexed.task_id == "ua-42-00000" and indexed == generate_tasks(backend, 1, 42)[0]
    for task in (first, other, indexed):
        examples = feasible_products(backend, task.constraints)
        assert len(examples) >= task.min_products + 1
        assert all(task.constraints.satisfied_by(p) for p in examples)
        assert abs(sum(task.rubric.weights().values()) - 1) < 1e-9
        assert [d.name for d in task.rubric.dimensions] == [
            "comprehensiveness",
            "depth",
            "instruction_following",
            "readability",
        ]
        assert task.meta["generator"] == "user-agent-template-v1"


#: sha256 of ``generate_tasks(small catalog, 12, seed=3)`` saved as JSONL, written by the user agent's template
#: writer before the generators were merged into sandbox.tasks.generator: the same seed must keep the same bytes
#: (frozen suites such as research-v2 are built from them).
GOLDEN_SEED3_SHA256 = "ff1201cfb13a053d4be11ed8cea525152f2d4a0cf08f8713c1303525513c9422"


def test_the_same_seed_writes_the_same_bytes(backend, tmp_path: Path) -> None:
    path = TaskSet(generate_tasks(backend, 12, 3)).save(tmp_path / "seed3.jsonl")
    assert (
        getattr(backend, "snapshot_id", None) == "cat-ea2c8cbbf0c0b903a165"
    )  # the catalog the golden was on
    assert hashlib.sha256(path.read_bytes()).hexdigest() == GOLDEN_SEED3_SHA256


def test_task_set_roundtrip_splits_and_sampling(backend, tmp_path: Path) -> None:
    tasks = TaskSet(generate_tasks(backend, 12, seed=5)).with_splits(seed=1, fractions=(0.5, 0.25, 0.25))
    path = tasks.save(tmp_path / "tasks.jsonl")
    loaded = load_tasks(path)
    assert loaded.ids() == tasks.ids() and list(loaded) == list(tasks)
    assert sum(len(loaded.split(s)) for s in ("train", "eval", "test")) == 12
    assert len(loaded.split("train")) >= 3
    reordered = TaskSet(reversed(list(loaded))).with_splits(seed=1, fractions=(0.5, 0.25, 0.25))
    assert {t.task_id: t.split for t in reordered} == {t.task_id: t.split for t in loaded}
    pick = [loaded.sample(np.random.default_rng(3)).task_id for _ in range(2)]
    assert pick[0] == pick[1]
    with pytest.raises(ValueError, match="unknown split"):
        loaded.split("validation")  # type: ignore[arg-type]


def test_task_set_errors_name_the_line(tmp_path: Path, web_tasks_file: Path) -> None:
    shopping = load_shoppingbench(web_tasks_file)[:2]
    path = tmp_path / "mixed.jsonl"
    lines = [t.model_dump_json() for t in shopping] + [
        json.dumps({"kind": "research", "task_id": "x", "query": "q"})
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(TaskSetFormatError, match=r"mixed.jsonl:3: field 'research.rubric'"):
        TaskSet.load(path)
    with pytest.raises(ValueError, match="appears twice"):
        TaskSet([shopping[0], shopping[0]])


def test_parse_task_dispatches_on_kind(backend) -> None:
    task = research_task(backend, np.random.default_rng(0))
    assert parse_task(task.model_dump(mode="json")) == task
    assert isinstance(parse_task(task.model_dump_json()), ResearchTask)


def test_prgym_tasks_is_the_one_task_command(
    backend, small_snapshot: Path, shoppingbench_dir: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from harness.cli import app
    from sandbox.tasks.taskset import split_of

    out = tmp_path / "r.jsonl"
    args = ["tasks", "generate", "--catalog", str(small_snapshot), "-n", "4", "--seed", "2", "--out", str(out),
            "--fractions", "0.8,0.1,0.1", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    research = load_tasks(out)
    assert research.ids() == [f"ua-2-{i:05d}" for i in range(4)]
    first = generate_task(backend, 2, 0)
    assert research.tasks[0] == first.model_copy(update={"split": split_of("ua-2-00000", 0, (0.8, 0.1, 0.1))})
    bad = CliRunner().invoke(app, [*args[:-3], "--fractions", "0.8,0.1", "--no-progress"])
    assert bad.exit_code == 2 and "--fractions '0.8,0.1': expected three" in bad.output
    converted = tmp_path / "s.jsonl"
    args = [
        "tasks",
        "shoppingbench",
        "--src",
        str(shoppingbench_dir),
        "--out",
        str(converted),
        "--fractions",
        "0,0,1",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    shopping = load_tasks(converted)
    assert len(shopping) == 900 and {t.split for t in shopping} == {"test"}
    old = subprocess.run([sys.executable, "-m", "sandbox.tasks", "generate"], capture_output=True, text=True)
    assert old.returncode == 2 and "replaced by `prgym tasks`" in old.stderr and old.stdout == ""
