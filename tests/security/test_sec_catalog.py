"""Broken catalog values (issue 14, item 9, prices): NaN, [] and {} are rejected with a reason, not "no price"."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "catalog_loader"))

from loader_helpers import run_spec  # noqa: E402


def test_nan_and_empty_container_prices_are_rejects(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    rows = [
        '{"id": "a", "title": "Alpha", "price": 5}',
        '{"id": "b", "title": "Beta", "price": NaN}',
        '{"id": "c", "title": "Gamma", "price": []}',
        '{"id": "d", "title": "Delta", "price": {}}',
        '{"id": "f", "title": "Phi", "price": null}',
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = run_spec(
        {
            "name": "j",
            "paths": [str(path)],
            "currency": "USD",
            "fields": {"id": "id", "title": "title", "price": "price"},
        }
    )
    assert sorted(out.by_id()) == ["j:a", "j:f"] or sorted(p.split(":")[-1] for p in out.by_id()) == [
        "a",
        "f",
    ]
    for line in (2, 3, 4):  # (the text "nan" is a configured null marker: no price)
        reject = out.reject_at(line)
        assert reject.field == "price" and reject.reason
