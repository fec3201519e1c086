"""The LLM query writer over real HTTP (the scripted OpenAI-compatible server): a reply that drops a sampled
requirement is rejected by the verifier, a reply stating them all becomes the task's query."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.llm import LLMClient, LLMConfig
from harness.testing.openai_server import RecordedRequest, Reply, ScriptedOpenAIServer
from harness.user_agent.shopping_writer import LLMWriter
from sandbox.catalog.lexical import TantivyBackend
from sandbox.tasks.synthesis import CatalogPool, SynthesisConfig, synthesize_tasks
from sandbox.tasks.taskset import load_tasks

_LINE = re.compile(r"^- (?:item \d+: )?(\w+): (.+)$", re.MULTILINE)


def _requirements(request: RecordedRequest) -> list[tuple[str, str]]:
    prompt = request.body["messages"][-1]["content"]
    return _LINE.findall(prompt)


def paraphrase(request: RecordedRequest, *, drop_price: bool) -> Reply:
    """A customer-style request from the prompt's requirement lines; optionally drops the price line."""
    kept = [phrase for kind, phrase in _requirements(request) if not (drop_price and kind == "price")]
    return Reply.text("Hello! I am shopping for " + "; and ".join(kept) + ". Thanks a lot.")


@pytest.fixture(scope="module")
def backend(small_snapshot: Path) -> TantivyBackend:
    return TantivyBackend(small_snapshot)


@pytest.fixture(scope="module")
def pool(backend: TantivyBackend) -> CatalogPool:
    return CatalogPool.from_store(backend.snapshot.store)


def _config(server: ScriptedOpenAIServer) -> LLMConfig:
    return LLMConfig(
        base_url=server.base_url, model="writer-m", api_key="sk-test", timeout_s=5, max_retries=0
    )


def test_a_reply_missing_a_requirement_is_rejected_and_a_good_one_accepted(backend, pool) -> None:
    calls = {"n": 0}

    def respond(request: RecordedRequest) -> Reply:
        calls["n"] += 1
        has_price = any(kind == "price" for kind, _ in _requirements(request))
        # every other request with a price requirement gets a reply that leaves the price out
        return paraphrase(request, drop_price=has_price and calls["n"] % 2 == 1)

    with ScriptedOpenAIServer(responder=respond) as server:
        with LLMWriter(LLMClient(_config(server)), "writer-m") as writer:
            report = synthesize_tasks(
                backend,
                SynthesisConfig(counts={"product": 6, "voucher": 3}, seed=2),
                pool=pool,
                writer=writer,
            )
        prompts = [r.body for r in server.chat_requests()]
    assert report.accepted == {"product": 6, "voucher": 3}
    rejected = sum(r.get("writer_missed_requirement", 0) for r in report.rejections.values())
    assert rejected >= 1
    for task in report.tasks:
        assert task.meta["writer"] == "openai:writer-m"
        assert task.query.startswith("Hello! I am shopping for ")
        for phrase in task.meta["requirements"]:
            assert phrase.casefold() in task.query.casefold()
        price = [r for r in task.items[0].price]
        assert price and all(r.describe(task.currency).casefold() in task.query.casefold() for r in price)
    assert all("seed" in body for body in prompts)  # each candidate's call is seeded


def test_the_cli_writer_flag_reaches_the_server(
    small_snapshot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRGYM_DEBUG", raising=False)
    cli_runner = CliRunner()
    with ScriptedOpenAIServer(responder=lambda r: paraphrase(r, drop_price=False)) as server:
        out = tmp_path / "t.jsonl"
        result = cli_runner.invoke(
            app,
            [
                "tasks",
                "synthesize",
                "--catalog",
                str(small_snapshot),
                "--n",
                "product=2",
                "--out",
                str(out),
                "--writer",
                "openai:writer-m",
                "--llm-set",
                f"base_url={server.base_url}",
                "--llm-set",
                "api_key=sk-test",
                "--no-progress",
            ],  # fmt: skip
        )
        assert result.exit_code == 0, result.output
        assert server.chat_requests() and server.chat_requests()[0].body["model"] == "writer-m"
    tasks = list(load_tasks(out))
    assert len(tasks) == 2 and all(t.meta["writer"] == "openai:writer-m" for t in tasks)
    bad = cli_runner.invoke(app, ["tasks", "synthesize", "--catalog", str(small_snapshot), "--out", str(out),
                                  "--writer", "openai:"])  # fmt: skip
    assert bad.exit_code == 2 and "--writer" in bad.output
