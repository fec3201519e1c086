"""The backend through the official client over real HTTP, against the fake server in ``fake_es.py``.

These check wiring (requests sent, headers, auth, documented answers read back, errors surfaced, bulk retries
and resume). They do not show that Elasticsearch ranks or filters correctly: that needs a real cluster and the
conformance suite (``PRGYM_ES_URL=... pytest tests/backends``), which could not run on the machine this was
written on (no Elasticsearch server can be installed there).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

pytest.importorskip("elasticsearch", reason="the es extra is not installed (pip install prgym[es])")

sys.path.insert(0, str(Path(__file__).parent))
from fake_es import FakeElasticsearch, search_reply  # noqa: E402

from sandbox.catalog import SearchFilters, SearchRequest, SortOrder  # noqa: E402
from sandbox.catalog.elasticsearch import (  # noqa: E402
    ElasticsearchBackend,
    EsConnectionError,
    EsIndexMissingError,
    EsRequestError,
    EsSettings,
    EsTimeoutError,
    push_snapshot,
)
from sandbox.catalog.elasticsearch import query as q  # noqa: E402
from sandbox.catalog.snapshot import Snapshot  # noqa: E402

SNAPSHOT_SIZE = 40


@pytest.fixture(scope="module")
def tiny_snapshot(small_snapshot: Path, tmp_path_factory) -> Path:
    from catalog_loader.build import write_snapshot

    products = [p for _, p in Snapshot(small_snapshot).store.iter_products()][::300][:SNAPSHOT_SIZE]
    out = tmp_path_factory.mktemp("es") / "tiny"
    write_snapshot(products, out)
    return out


@pytest.fixture
def fake():
    with FakeElasticsearch() as server:
        yield server


def settings(fake: FakeElasticsearch, **kw) -> EsSettings:
    return EsSettings(url=fake.url, api_key="c2VjcmV0OmtleQ==", request_timeout=2, max_retries=0, **kw)


def pushed(fake: FakeElasticsearch, snapshot: Path) -> ElasticsearchBackend:
    report = push_snapshot(snapshot, settings(fake), progress=False, initial_backoff=0.01)
    assert report.complete and report.indexed == SNAPSHOT_SIZE
    return ElasticsearchBackend(settings(fake))


def test_push_creates_the_index_with_its_mapping_sends_everything_and_swaps_the_alias(
    fake, tiny_snapshot
) -> None:
    snap = Snapshot(tiny_snapshot)
    report = push_snapshot(tiny_snapshot, settings(fake), progress=False)
    index = f"prgym-catalog-{snap.snapshot_id}"
    assert (report.index, report.indexed, report.skipped, report.failures) == (index, SNAPSHOT_SIZE, 0, [])
    created = next(r for r in fake.requests if r["method"] == "PUT" and r["path"] == f"/{index}")
    assert created["body"]["mappings"]["properties"]["price"] == {"type": "double"}
    assert created["body"]["settings"]["refresh_interval"] == "-1"
    assert fake.indices[index]["mappings"]["_meta"]["complete"] is True
    assert fake.aliases == {"prgym-catalog": [index]}
    assert all(r["headers"].get("authorization") == "ApiKey c2VjcmV0OmtleQ==" for r in fake.requests)
    assert "compatible-with=" in fake.requests[0]["headers"]["accept"]


def test_429s_are_retried_failures_reported_and_a_rerun_sends_only_what_is_missing(
    fake, tiny_snapshot
) -> None:
    ids = Snapshot(tiny_snapshot).store.product_ids()
    bad = ids[5]

    def status(doc_id: str, attempt: int):
        if doc_id == ids[3] and attempt < 2:
            return 429, {"type": "es_rejected_execution_exception", "reason": "queue full"}
        if doc_id == bad:
            return 400, {"type": "document_parsing_exception", "reason": "failed to parse"}
        return 201, None

    fake.bulk_item_status = status
    first = push_snapshot(tiny_snapshot, settings(fake), progress=False, initial_backoff=0.01)
    assert first.indexed == SNAPSHOT_SIZE - 1 and not first.complete
    assert first.failures == [
        (bad, "index failed with HTTP 400: document_parsing_exception: failed to parse")
    ]
    assert fake.aliases == {}  # an incomplete index is never made current
    with pytest.raises(EsIndexMissingError, match="incomplete"):
        ElasticsearchBackend(settings(fake), snapshot_id=Snapshot(tiny_snapshot).snapshot_id)

    fake.bulk_item_status = lambda doc_id, attempt: (201, None)
    sent_before = len(fake.bodies("/_bulk"))
    second = push_snapshot(tiny_snapshot, settings(fake), progress=False)
    assert (second.indexed, second.skipped, second.complete) == (1, SNAPSHOT_SIZE - 1, True)
    resent = [line["index"]["_id"] for body in fake.bodies("/_bulk")[sent_before:] for line in body[::2]]
    assert resent == [bad]


def test_a_new_snapshot_push_moves_the_alias_atomically(fake, tiny_snapshot, tmp_path) -> None:
    from catalog_loader.build import write_snapshot

    pushed(fake, tiny_snapshot)
    products = [p for _, p in Snapshot(tiny_snapshot).store.iter_products()][:-1]
    write_snapshot(products, tmp_path / "smaller")
    push_snapshot(tmp_path / "smaller", settings(fake), progress=False)
    new = f"prgym-catalog-{Snapshot(tmp_path / 'smaller').snapshot_id}"
    assert fake.aliases == {"prgym-catalog": [new]}
    (swap,) = fake.bodies("/_aliases")[-1:]
    assert [next(iter(a)) for a in swap["actions"]] == ["remove", "add"]


def test_search_sends_the_pure_body_and_reads_the_page(fake, tiny_snapshot) -> None:
    backend = pushed(fake, tiny_snapshot)
    request = SearchRequest(query="usb cable", filters=SearchFilters(price_max=30), page=2, page_size=5)
    hit = {"_id": "a:1", "_score": 2.5, "_source": {"product_id": "a:1", "ord": 3}, "sort": [2.5, "a:1"]}
    fake.search_replies.append((200, search_reply([hit], total=6)))
    result = backend.search(request)
    assert (result.total, [(h.product_id, h.score) for h in result.hits]) == (6, [("a:1", 2.5)])
    sent = fake.requests[-1]
    assert sent["body"] == q.search_body("usb cable", request.filters, SortOrder.relevance, size=5, from_=5)
    assert sent["query"]["preference"] == [backend.snapshot_id]
    assert sent["query"]["allow_partial_search_results"] == ["false"]


def test_deep_pages_walk_search_after(fake, tiny_snapshot) -> None:
    backend = pushed(fake, tiny_snapshot)
    walk = [{"_id": f"a:{i}", "_score": None, "sort": [float(i), f"a:{i}"]} for i in range(10_000)]
    fake.search_replies += [(200, search_reply(walk, total=None)), (200, search_reply([], total=10_050))]
    result = backend.search(SearchRequest(sort=SortOrder.price_asc, page=101, page_size=100))
    assert result.total == 10_050
    first, second = fake.bodies("/_search")[-2:]
    assert first["size"] == 10_000 and first["_source"] is False and "search_after" not in first
    assert second["search_after"] == [9999.0, "a:9999"] and "from" not in second and second["size"] == 100


def test_get_products_keeps_order_with_none_for_unknown_ids(fake, tiny_snapshot) -> None:
    backend = pushed(fake, tiny_snapshot)
    ids = Snapshot(tiny_snapshot).store.product_ids()
    got = backend.get_products([ids[2], "nope:1", ids[0]])
    assert [p.product_id if p else None for p in got] == [ids[2], None, ids[0]]
    assert got[0] == Snapshot(tiny_snapshot).store.get([ids[2]])[0]  # the full record round-trips exactly


def test_errors_are_clear(fake, tiny_snapshot) -> None:
    with pytest.raises(EsIndexMissingError, match="prgym catalog push"):
        ElasticsearchBackend(settings(fake))
    backend = pushed(fake, tiny_snapshot)
    failure = {
        "error": {
            "root_cause": [{"type": "query_shard_exception", "reason": "failed to create query"}],
            "type": "search_phase_execution_exception",
            "reason": "all shards failed",
        },
        "status": 400,
    }
    fake.search_replies.append((400, failure))
    with pytest.raises(EsRequestError, match="search_phase_execution_exception: all shards failed") as info:
        backend.search(SearchRequest(query="x"))
    assert info.value.status == 400
    fake.search_replies.append(
        (401, {"error": {"type": "security_exception", "reason": "unable to authenticate"}, "status": 401})
    )
    with pytest.raises(EsRequestError, match="PRGYM_ES_API_KEY"):
        backend.search(SearchRequest(query="x"))
    fake.search_replies.append((200, search_reply([], total=0, timed_out=True)))
    with pytest.raises(EsTimeoutError, match="partial"):
        backend.search(SearchRequest(query="x"))
    fake.delay = 3.0  # longer than the 2 s request timeout
    fake.search_replies.append((200, search_reply([], total=0)))
    with pytest.raises(EsTimeoutError, match="did not answer"):
        backend.search(SearchRequest(query="x"))


def test_an_unreachable_cluster_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EsConnectionError, match="cannot reach Elasticsearch"):
        ElasticsearchBackend(EsSettings(url=f"http://127.0.0.1:{port}", max_retries=0, request_timeout=2))


def test_settings_take_credentials_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("PRGYM_ES_URL", "https://localhost:9200")
    monkeypatch.setenv("ELASTIC_PASSWORD", "pw")
    monkeypatch.delenv("PRGYM_ES_API_KEY", raising=False)
    monkeypatch.delenv("PRGYM_ES_USERNAME", raising=False)
    s = EsSettings.from_env()
    assert (s.url, s.username, s.password.get_secret_value(), s.api_key) == (
        "https://localhost:9200",
        "elastic",
        "pw",
        None,
    )
    assert "pw" not in repr(s)
