"""Two processes opening the same snapshot return identical pages in every mode (ids, order and scores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox.catalog.dense import HybridBackend
from sandbox.catalog.search import SearchFilters, SearchMode, SearchRequest, SortOrder

REQUESTS = [
    SearchRequest(query="noise cancelling headphones", mode=SearchMode.dense, page_size=20),
    SearchRequest(query="noise cancelling headphones", mode=SearchMode.hybrid, page_size=20),
    SearchRequest(query="gift for a teenager", mode=SearchMode.hybrid, page=2, page_size=15),
    SearchRequest(
        query="phone", mode=SearchMode.dense, filters=SearchFilters(price_max=300, source="bestbuy")
    ),
    SearchRequest(query="watch", mode=SearchMode.hybrid, sort=SortOrder.price_asc, page_size=30),
    SearchRequest(query="usb c cable", mode=SearchMode.lexical, page_size=20),
]

_CHILD = """
import json, sys
from sandbox.catalog.dense import HybridBackend
from sandbox.catalog.search import SearchRequest
backend = HybridBackend(sys.argv[1])
for line in sys.stdin:
    result = backend.search(SearchRequest.model_validate_json(line))
    print(result.model_dump_json())
"""


def test_results_are_identical_across_processes(dense_snapshot: Path, embedder) -> None:
    here = HybridBackend(dense_snapshot, embedder=embedder)
    expected = [here.search(r).model_dump() for r in REQUESTS]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "12345"}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(dense_snapshot)],
        input="".join(r.model_dump_json() + "\n" for r in REQUESTS),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    got = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
    assert len(got) == len(REQUESTS)
    for request, mine, theirs in zip(REQUESTS, expected, got, strict=True):
        assert mine == theirs, request
        assert mine["hits"], request
