"""Task models, constraints on real products, the seeded generator, and JSONL task sets with splits."""

from __future__ import annotations

import json
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
    generate_research_task,
    generate_task_set,
    load_shoppingbench,
    load_tasks,
    parse_task,
)
from sandbox.tasks.generator import nice_budget
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
    first = generate_research_task(backend, np.random.default_rng(42))
    again = generate_research_task(backend, np.random.default_rng(42))
    assert first == again
    other = generate_research_task(backend, np.random.default_rng(43))
    assert other != first
    for task in (first, other):
        examples = backend.get_products(task.meta["feasible_examples"])
        assert len(examples) >= task.min_products
        assert all(p is not None and task.constraints.satisfied_by(p) for p in examples)
        assert abs(sum(task.rubric.weights().values()) - 1) < 1e-9
        assert [d.name for d in task.rubric.dimensions] == [
            "comprehensiveness",
            "depth",
            "instruction_following",
            "readability",
        ]
        assert task.constraints.uncovered(task.query) == []  # the query states every hard constraint


def test_task_set_roundtrip_splits_and_sampling(backend, tmp_path: Path) -> None:
    tasks = TaskSet(generate_task_set(backend, 12, seed=5)).with_splits(seed=1, fractions=(0.5, 0.25, 0.25))
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
    task = generate_research_task(backend, np.random.default_rng(0))
    assert parse_task(task.model_dump(mode="json")) == task
    assert isinstance(parse_task(task.model_dump_json()), ResearchTask)


def test_task_set_command(backend, small_snapshot: Path, shoppingbench_dir: Path, tmp_path: Path) -> None:
    from sandbox.tasks.__main__ import main
    from sandbox.tasks.taskset import split_of

    out = tmp_path / "r.jsonl"
    main(["generate", "--snapshot", str(small_snapshot), "--n", "4", "--seed", "2", "--out", str(out)])
    research = load_tasks(out)
    assert research.ids() == [f"gen-2-{i:05d}" for i in range(4)]
    first = generate_research_task(backend, np.random.default_rng(2), task_id="gen-2-00000")
    assert research.tasks[0] == first.model_copy(
        update={"split": split_of("gen-2-00000", 0, (0.8, 0.1, 0.1))}
    )
    main(
        [
            "shoppingbench",
            "--src",
            str(shoppingbench_dir),
            "--out",
            str(tmp_path / "s.jsonl"),
            "--fractions",
            "0,0,1",
        ]
    )
    shopping = load_tasks(tmp_path / "s.jsonl")
    assert len(shopping) == 900 and {t.split for t in shopping} == {"test"}
