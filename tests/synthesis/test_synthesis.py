"""Task synthesis on the real small catalog: verified by construction, exact counts, verifier, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.catalog.lexical import TantivyBackend
from sandbox.rewards.shoppingbench import score_shopping_task
from sandbox.tasks.synthesis import CatalogPool, SynthesisConfig, TemplateWriter, missing_requirements
from sandbox.tasks.synthesis.pool import satisfies
from sandbox.tasks.synthesis.synthesize import KNOWLEDGE_SKIPPED, sample_target, synthesize_tasks
from sandbox.tasks.taskset import TaskSet

COUNTS = {"product": 8, "shop": 6, "voucher": 6, "knowledge": 2}


@pytest.fixture(scope="module")
def backend(small_snapshot: Path) -> TantivyBackend:
    return TantivyBackend(small_snapshot)


@pytest.fixture(scope="module")
def pool(backend: TantivyBackend) -> CatalogPool:
    return CatalogPool.from_store(backend.snapshot.store)


@pytest.fixture(scope="module")
def report(backend, pool):
    return synthesize_tasks(backend, SynthesisConfig(counts=COUNTS, seed=3), pool=pool)


def test_every_intent_is_written_and_knowledge_is_skipped_with_a_message(report) -> None:
    assert report.accepted == {"product": 8, "shop": 6, "voucher": 6}
    assert KNOWLEDGE_SKIPPED in report.messages
    kinds = {t.task_type for t in report.tasks}
    assert kinds == {"product", "shop", "voucher"}
    assert all(len({i.product_id for i in t.items}) == len(t.items) for t in report.tasks)


def test_the_oracle_answer_succeeds_on_every_task(report, backend) -> None:
    for task in report.tasks:
        targets = backend.get_products([i.catalog_id(task.catalog_source) for i in task.items])
        assert all(p is not None for p in targets)
        for mode in ("prgym", "shoppingbench"):
            assert score_shopping_task(task, targets, scoring=mode).success, (task.task_id, mode)


def test_n_satisfying_equals_a_brute_force_count(report, pool) -> None:
    checked = [
        t for intent in ("product", "shop", "voucher") for t in report.tasks if t.meta["intent"] == intent
    ][::4]
    for task in checked:  # a full scan per item: a sample of tasks keeps the test cheap
        counts = []
        for item in task.items:
            own = item.catalog_id(task.catalog_source)
            counts.append(
                sum(
                    1
                    for p in pool.products
                    if p.product_id != own and satisfies(p, item, task.catalog_source)
                )
            )
        assert task.meta["n_satisfying_items"] == counts
        assert task.meta["n_satisfying"] == sum(counts)
    assert any(t.meta["n_satisfying"] > 0 for t in checked)


def test_every_sampled_requirement_is_in_the_query(report, pool) -> None:
    for task in report.tasks:
        for phrase in task.meta["requirements"]:
            assert phrase.casefold() in task.query.casefold()
    # the verifier rejects a query that drops a requirement
    product = next(p for p in pool.products if p.price is not None and p.attributes)
    import numpy as np

    _, _, reqs = sample_target(product, np.random.default_rng(0), 4)
    query = TemplateWriter().write([reqs], [], 0)
    assert missing_requirements(query, [reqs]) == []
    price = next(r for r in reqs.requirements if r.kind == "price")
    dropped = query.replace(price.phrase, "a fair price")
    assert missing_requirements(dropped, [reqs]) == [price]


def test_same_seed_gives_a_byte_identical_file(report, backend, pool, tmp_path: Path) -> None:
    again = synthesize_tasks(backend, SynthesisConfig(counts=COUNTS, seed=3), pool=pool)
    a, b = TaskSet(report.tasks).save(tmp_path / "a.jsonl"), TaskSet(again.tasks).save(tmp_path / "b.jsonl")
    assert a.read_bytes() == b.read_bytes()
    other = synthesize_tasks(backend, SynthesisConfig(counts={"product": 3}, seed=4), pool=pool)
    assert [t.query for t in other.tasks] != [t.query for t in report.tasks[:3]]


def test_too_many_satisfying_products_are_rejected(backend, pool) -> None:
    loose = synthesize_tasks(
        backend, SynthesisConfig(counts={"product": 5}, seed=1, max_satisfying=0), pool=pool
    )
    assert all(t.meta["n_satisfying"] == 0 for t in loose.tasks)
    assert loose.rejections["product"].get("too_many_satisfying", 0) > 0
