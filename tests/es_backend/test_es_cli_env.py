"""``prgym catalog push/search --es`` and ``backend="elasticsearch"`` in the env, against the fake server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("elasticsearch", reason="the es extra is not installed (pip install prgym[es])")

sys.path.insert(0, str(Path(__file__).parent))
from fake_es import FakeElasticsearch, search_reply  # noqa: E402

from harness.cli import app  # noqa: E402
from sandbox.catalog.snapshot import Snapshot  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(small_snapshot: Path, tmp_path_factory) -> Path:
    from catalog_loader.build import write_snapshot

    out = tmp_path_factory.mktemp("es-cli") / "tiny"
    write_snapshot([p for _, p in Snapshot(small_snapshot).store.iter_products()][::500], out)
    return out


@pytest.fixture
def fake(monkeypatch):
    for name in (
        "PRGYM_ES_URL",
        "PRGYM_ES_API_KEY",
        "PRGYM_ES_USERNAME",
        "PRGYM_ES_PASSWORD",
        "ELASTIC_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRGYM_ES_USERNAME", "elastic")
    monkeypatch.setenv("PRGYM_ES_PASSWORD", "s3cret")
    with FakeElasticsearch() as server:
        yield server


def test_push_then_search_through_the_cli(fake, tiny) -> None:
    pushed = runner.invoke(
        app,
        [
            "catalog",
            "push",
            "--catalog",
            str(tiny),
            "--es",
            fake.url,
            "--index",
            "shop",
            "--no-progress",
            "--json",
        ],
    )
    assert pushed.exit_code == 0, pushed.output
    report = json.loads(pushed.output)
    snapshot_id = Snapshot(tiny).snapshot_id
    assert (
        report["complete"]
        and report["index"] == f"shop-{snapshot_id}"
        and report["indexed"] == len(Snapshot(tiny))
    )
    assert fake.aliases == {"shop": [f"shop-{snapshot_id}"]}
    assert all(
        r["headers"]["authorization"].startswith("Basic ") for r in fake.requests
    )  # basic auth from env

    again = runner.invoke(
        app, ["catalog", "push", "--catalog", str(tiny), "--es", fake.url, "--index", "shop", "--no-progress"]
    )
    assert again.exit_code == 0 and "0 indexed" in again.output  # resumed: nothing was missing

    pid = Snapshot(tiny).store.product_ids()[0]
    hit = {"_id": pid, "_score": 1.5, "_source": {"product_id": pid, "ord": 0}, "sort": [1.5, pid]}
    fake.search_replies.append((200, search_reply([hit], total=1)))
    found = runner.invoke(
        app,
        ["catalog", "search", "--catalog", str(tiny), "tv", "--es", fake.url, "--index", "shop", "--json"],
    )
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)["hits"] == [{"product_id": pid, "score": 1.5}]


def test_an_unreachable_cluster_is_one_line_and_exit_2(tiny, monkeypatch) -> None:
    monkeypatch.setenv("PRGYM_ES_URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["catalog", "push", "--catalog", str(tiny), "--no-progress"])
    assert result.exit_code == 2
    assert "cannot reach Elasticsearch at http://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_env_opens_the_elasticsearch_backend_by_name(fake, tiny) -> None:
    from sandbox.catalog.elasticsearch import ElasticsearchBackend, push_snapshot
    from sandbox.catalog.elasticsearch.client import EsSettings
    from sandbox.env import ProductResearchEnv, clear_shared

    push_snapshot(tiny, EsSettings.from_env(fake.url), progress=False)
    clear_shared()
    env = ProductResearchEnv(tiny, backend="elasticsearch", es_url=fake.url)
    assert isinstance(env.backend, ElasticsearchBackend)
    assert env.snapshot_id == Snapshot(tiny).snapshot_id and len(env.backend) == len(Snapshot(tiny))
    clear_shared()
    with pytest.raises(ValueError, match="es_url"):
        ProductResearchEnv(tiny, backend="elasticsearch", es_url=None)
