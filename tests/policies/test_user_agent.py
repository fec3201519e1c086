"""The user agent over the real small catalog: coherent histories, valid rubrics, determinism, the CLI."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import typer
from typer.testing import CliRunner

from harness.cli.tasks import app as tasks_app
from sandbox.catalog.search import category_prefixes, normalize_key
from sandbox.tasks.feasibility import feasible_products
from sandbox.tasks.generator import generate_tasks
from sandbox.tasks.history import draw_history
from sandbox.tasks.persona import infer_persona
from sandbox.tasks.taskset import TaskSet


def test_histories_are_coherent(backend) -> None:
    rng = np.random.default_rng(11)
    for _ in range(10):
        history = draw_history(backend, rng)
        anchor = history.items[0]
        assert anchor.product_id == history.anchor_id and anchor.event == "purchased"
        key = normalize_key(history.category)
        products = backend.get_products([i.product_id for i in history.items])
        assert len({i.product_id for i in history.items}) == len(history.items) >= 5
        for item, product in zip(history.items, products, strict=True):
            assert product is not None and product.price == item.price  # real catalog products
            assert key in category_prefixes(product.category_path)  # same category prefix
            assert (
                history.price_low <= item.price <= history.price_high or item.product_id == anchor.product_id
            )
            assert item.currency == anchor.currency
        persona = infer_persona(history)
        assert persona.price_sensitivity in ("budget", "mid-range", "premium")


def test_tasks_are_valid_feasible_and_deterministic(backend) -> None:
    tasks = generate_tasks(backend, 10, seed=3)
    again = generate_tasks(backend, 10, seed=3)
    assert [t.model_dump_json() for t in tasks] == [t.model_dump_json() for t in again]
    other = generate_tasks(backend, 3, seed=4)
    assert [t.query for t in other] != [t.query for t in tasks[:3]]
    for task in tasks:
        dims = task.rubric.dimensions
        assert [d.name for d in dims] == [
            "comprehensiveness",
            "depth",
            "instruction_following",
            "readability",
        ]
        assert abs(sum(d.weight for d in dims) - 1.0) < 1e-9
        assert all(c.weight > 0 for d in dims for c in d.criteria)
        assert len(feasible_products(backend, task.constraints)) >= task.min_products
        history = task.meta["history"]
        assert task.constraints.currency == history["currency"]
        assert task.constraints.budget_max >= Decimal(task.meta["persona"]["typical_price"])
        if task.constraints.brands:
            assert task.constraints.brands[0] in task.query


def test_tasks_generate_cli(small_snapshot, tmp_path) -> None:
    app = typer.Typer()
    app.add_typer(tasks_app, name="tasks")
    out = tmp_path / "tasks.jsonl"
    args = [
        "tasks",
        "generate",
        "--catalog",
        str(small_snapshot),
        "-n",
        "6",
        "--seed",
        "0",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    loaded = TaskSet.load(out)
    assert len(loaded) == 6 and loaded.ids()[0] == "ua-0-00000"
    assert json.loads(out.read_text().splitlines()[0])["kind"] == "research"
    bad = CliRunner().invoke(
        app, ["tasks", "generate", "--catalog", str(tmp_path), "-n", "1", "--out", str(out)]
    )
    assert bad.exit_code == 2 and "not a snapshot directory" in " ".join(bad.output.split())
