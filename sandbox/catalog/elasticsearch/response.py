"""Elasticsearch response bodies -> prgym values, as pure functions (tested on documented response bodies).

A search answer is only trusted when it is complete: ``timed_out: true`` or any failed shard means some products
were never looked at, so the hits and the total would be silently wrong; both raise instead. A total must be
exact (``relation: "eq"``): a lower bound (``"gte"``) would break the "total = products that match" contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.catalog.elasticsearch.errors import EsRequestError, EsTimeoutError


@dataclass(frozen=True)
class EsHit:
    """One hit: id, score (``None`` when sorted by a field), sort values (for ``search_after``), source fields."""

    product_id: str
    score: float | None
    sort: list[Any] | None
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def ord(self) -> int:
        return int(self.source["ord"])


@dataclass(frozen=True)
class EsPage:
    hits: list[EsHit]
    total: int


def error_message(body: Any, status: int | None = None) -> str:
    """The documented error body (``{"error": {"type", "reason", "root_cause": [...]}, "status"}``) as one line."""
    if isinstance(body, dict) and "error" in body:
        error = body["error"]
        if isinstance(error, dict):
            parts = [f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()]
            for cause in error.get("root_cause") or []:
                text = f"{cause.get('type')}: {cause.get('reason')}"
                if text not in parts:
                    parts.append(text)
            caused = error.get("caused_by")
            if isinstance(caused, dict):
                parts.append(f"caused by {caused.get('type')}: {caused.get('reason')}")
            message = "; ".join(parts)
        else:
            message = str(error)
        status = status if status is not None else body.get("status")
    else:
        message = str(body)
    return f"{message} (HTTP {status})" if status is not None else message


def raise_for_error(body: Any, status: int | None = None) -> None:
    """Raise :class:`EsRequestError` when ``body`` is an error body (as ``_msearch`` items are)."""
    if isinstance(body, dict) and "error" in body:
        error = body["error"]
        kind = error.get("type") if isinstance(error, dict) else None
        raise EsRequestError(
            error_message(body, status), status=status or body.get("status"), error_type=kind
        )


def check_complete(body: dict[str, Any]) -> None:
    """Refuse partial results: a timed-out search or failed shards."""
    if body.get("timed_out"):
        raise EsTimeoutError(
            f"the search timed out after {body.get('took', '?')} ms and returned partial results; "
            "raise the request timeout or make the query cheaper"
        )
    shards = body.get("_shards") or {}
    if shards.get("failed"):
        reasons = []
        for failure in shards.get("failures") or []:
            reason = failure.get("reason") or {}
            reasons.append(
                f"shard {failure.get('shard')} of {failure.get('index')}: "
                f"{reason.get('type', 'error')}: {reason.get('reason', '')}"
            )
        raise EsRequestError(
            f"{shards['failed']} of {shards.get('total', '?')} shards failed: "
            + "; ".join(reasons or ["no reason given"]),
            error_type="shard_failure",
        )


def parse_total(body: dict[str, Any]) -> int:
    """The exact hit count; ``relation: "gte"`` (a lower bound) is an error, since totals must be exact."""
    total = body["hits"].get("total")
    if total is None:
        raise EsRequestError("the response has no hits.total; the request must set track_total_hits")
    if isinstance(total, int):  # pre-7 format, still accepted
        return total
    if total.get("relation", "eq") != "eq":
        raise EsRequestError(
            f"hits.total is only a lower bound ({total.get('value')}, relation {total.get('relation')!r}); "
            "the request must set track_total_hits: true"
        )
    return int(total["value"])


def parse_hits(body: dict[str, Any]) -> list[EsHit]:
    check_complete(body)
    out = []
    for hit in body["hits"]["hits"]:
        source = hit.get("_source") or {}
        out.append(
            EsHit(
                product_id=str(source.get("product_id", hit["_id"])),
                score=None if hit.get("_score") is None else float(hit["_score"]),
                sort=hit.get("sort"),
                source=source,
            )
        )
    return out


def parse_search(body: dict[str, Any]) -> EsPage:
    """Hits and exact total of a search response (after checking it is complete)."""
    hits = parse_hits(body)
    return EsPage(hits=hits, total=parse_total(body))


def parse_msearch(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The item bodies of an ``_msearch`` response; a failed item raises with its own error."""
    items = body.get("responses")
    if not isinstance(items, list):
        raise EsRequestError(f"not an _msearch response: {str(body)[:200]}")
    for item in items:
        raise_for_error(item, item.get("status"))
    return items


def parse_mget(body: dict[str, Any], ids: list[str]) -> list[dict[str, Any] | None]:
    """``record`` of each asked id in order, ``None`` where ``found`` is false."""
    docs = body.get("docs")
    if not isinstance(docs, list) or len(docs) != len(ids):
        raise EsRequestError(f"_mget returned {len(docs or [])} docs for {len(ids)} ids")
    out: list[dict[str, Any] | None] = []
    for asked, doc in zip(ids, docs, strict=True):
        if "error" in doc:
            raise_for_error(doc)
        if doc.get("_id") != asked:
            raise EsRequestError(f"_mget answered {doc.get('_id')!r} where {asked!r} was asked")
        out.append((doc.get("_source") or {}).get("record") if doc.get("found") else None)
    return out


def bulk_failure(item: dict[str, Any]) -> tuple[str, str]:
    """(document id, one-line reason) of a failed ``streaming_bulk`` item (``{op: {_id, status, error}}``)."""
    (op, info), *_ = item.items()
    error = info.get("error")
    if isinstance(error, dict):
        reason = f"{error.get('type')}: {error.get('reason')}"
    else:
        reason = str(error or info.get("exception") or "unknown error")
    return str(info.get("_id")), f"{op} failed with HTTP {info.get('status')}: {reason}"
