"""Knowledge tasks from real saved web pages on the real small catalog: verified by construction."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.eval.policies import OraclePolicy
from harness.eval.runner import evaluate
from sandbox.catalog.lexical import TantivyBackend
from sandbox.errors import UserError
from sandbox.rewards.shoppingbench import score_shopping_task
from sandbox.tasks.synthesis import CatalogPool, SynthesisConfig, missing_requirements, synthesize_tasks
from sandbox.tasks.synthesis.knowledge import (
    KnowledgeSource,
    WebPage,
    contains_words,
    page_facts,
    web_satisfies,
)
from sandbox.tasks.synthesis.writer import ItemRequirements, Requirement
from sandbox.tasks.taskset import TaskSet
from sandbox.web.cache import WebCache
from sandbox.web.corpus import build_corpus
from sandbox.web.keys import CacheRequest
from sandbox.web.models import FetchedPage

COUNTS = {"knowledge": 12}


@pytest.fixture(scope="module")
def corpus(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("web") / "corpus"
    build_corpus(shared_data / "web_pages", out)
    return out


@pytest.fixture(scope="module")
def backend(small_snapshot: Path) -> TantivyBackend:
    return TantivyBackend(small_snapshot)


@pytest.fixture(scope="module")
def pool(backend: TantivyBackend) -> CatalogPool:
    return CatalogPool.from_store(backend.snapshot.store)


@pytest.fixture(scope="module")
def report(backend, pool, corpus):
    return synthesize_tasks(
        backend, SynthesisConfig(counts=COUNTS, seed=5, web_corpus=str(corpus)), pool=pool
    )


def test_facts_are_read_from_label_value_lines() -> None:
    page = WebPage(
        url="https://example.org/p/1",
        title="Trail shoes",
        text="Item specifics\nBrand:\nPUMA\nColor: Red\nPrice: 12.00\nFeatures: Light, Soft\nUS Size: 10",
    )
    facts = {(f.label, f.value) for f in page_facts(page)}
    assert facts == {("Brand", "PUMA"), ("Color", "Red")}  # prices, lists and numbers are not names


def test_knowledge_tasks_are_written_from_the_corpus(report) -> None:
    assert report.accepted == COUNTS
    assert not report.messages
    for task in report.tasks:
        assert task.task_type == "web" and task.meta["intent"] == "knowledge"
        assert task.knowledge_attribute
        assert task.meta["n_distractors"] >= 1


def test_the_oracle_answer_succeeds_on_every_task(report, backend) -> None:
    for task in report.tasks:
        (target,) = backend.get_products([task.items[0].catalog_id(task.catalog_source)])
        assert target is not None
        for mode in ("prgym", "shoppingbench"):
            assert score_shopping_task(task, [target], scoring=mode).success, (task.task_id, mode)


def test_the_oracle_scores_asr_1_through_the_env(report, small_snapshot: Path) -> None:
    scores = asyncio.run(
        evaluate(small_snapshot, TaskSet(report.tasks), lambda task, seed: OraclePolicy(task), concurrency=2)
    )
    assert len(scores) == len(report.tasks)
    assert all(s.success for s in scores), [(s.task_id, s.error) for s in scores if not s.success]


def test_n_satisfying_equals_a_brute_force_count(report, pool) -> None:
    for task in report.tasks[::3]:
        own = task.items[0].catalog_id(task.catalog_source)
        count = sum(1 for p in pool.products if p.product_id != own and web_satisfies(p, task))
        assert task.meta["n_satisfying"] == count, task.task_id
    assert any(t.meta["n_satisfying"] > 0 for t in report.tasks)


def test_the_query_states_the_cue_and_never_the_answer(report) -> None:
    for task in report.tasks:
        cue = task.meta["knowledge"]
        assert cue["url"] in task.query
        assert cue["label"].casefold() in task.query.casefold()
        assert not contains_words(task.query, task.knowledge_attribute)
        for phrase in task.meta["requirements"]:
            assert phrase.casefold() in task.query.casefold()
    # the verifier rejects a query without the page
    task = report.tasks[0]
    item = ItemRequirements(
        requirements=[
            Requirement(
                kind="title", phrase=task.meta["requirements"][0], terms=[task.meta["requirements"][0]]
            )
        ]
    )
    cue = Requirement(
        kind="knowledge", phrase="x", terms=[task.meta["knowledge"]["url"], task.meta["knowledge"]["label"]]
    )
    assert missing_requirements(task.query, [item], [cue]) == []
    assert missing_requirements(
        task.query.replace(task.meta["knowledge"]["url"], "a web page"), [item], [cue]
    ) == [cue]


def test_same_seed_gives_a_byte_identical_file(report, backend, pool, corpus, tmp_path: Path) -> None:
    again = synthesize_tasks(
        backend, SynthesisConfig(counts=COUNTS, seed=5, web_corpus=str(corpus)), pool=pool
    )
    a, b = TaskSet(report.tasks).save(tmp_path / "a.jsonl"), TaskSet(again.tasks).save(tmp_path / "b.jsonl")
    assert a.read_bytes() == b.read_bytes()


def test_a_recorded_web_cache_gives_the_same_facts(corpus, tmp_path: Path) -> None:
    from_corpus = KnowledgeSource.open(corpus)
    path = tmp_path / "cache.sqlite"
    with WebCache(path, namespace="bench") as cache:
        for page in from_corpus.pages:
            cache.put(
                CacheRequest.page(page.url),
                FetchedPage(url=page.url, title=page.title, text=page.text).model_dump(),
            )
        cache.put(
            CacheRequest.page("https://down.example/"),
            FetchedPage(url="https://down.example/", error="timeout").model_dump(),
        )
    from_cache = KnowledgeSource.open(path)
    assert sorted(f.model_dump_json() for f in from_cache.facts) == sorted(
        f.model_dump_json() for f in from_corpus.facts
    )
    assert len(from_cache.pages) == len(from_corpus.pages)


def test_a_bad_web_corpus_path_is_a_clear_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="neither a corpus directory"):
        KnowledgeSource.open(tmp_path / "missing")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not sqlite")
    with pytest.raises(UserError, match="not a web cache file"):
        KnowledgeSource.open(junk)
