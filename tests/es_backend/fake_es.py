"""A tiny HTTP server on 127.0.0.1 that answers like Elasticsearch's documented REST API, for wiring tests.

It is NOT a search engine and no substitute for a real cluster: searches get scripted responses (or, for the
push's ordinal scan, the stored documents sorted by ``ord``), so tests check what the official client sends
over real HTTP and how the backend reads documented answers (hits, errors, 429s, timeouts). Everything that
depends on Elasticsearch's own behaviour (analysis, BM25, kNN) runs only against a real cluster
(``PRGYM_ES_URL=... pytest tests/backends``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Reply = tuple[int, Any]


class FakeElasticsearch:
    """State and scripted behaviour; ``requests`` records (method, path, query, headers, body) of every call."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.indices: dict[str, dict[str, Any]] = {}  # name -> {"mappings": ..., "docs": {id: source}}
        self.aliases: dict[str, list[str]] = {}
        self.search_replies: list[Reply | Callable[[dict], Reply]] = []
        self.bulk_item_status: Callable[[str, int], tuple[int, dict | None]] = lambda doc_id, attempt: (
            201,
            None,
        )
        self.delay = 0.0
        self._attempts: dict[str, int] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeElasticsearch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path_suffix: str) -> list[Any]:
        return [r["body"] for r in self.requests if r["path"].endswith(path_suffix)]

    # -- routing --------------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        parts = [p for p in path.split("/") if p]
        if not parts:
            return 200, {"name": "fake", "version": {"number": "9.1.0"}, "tagline": "You Know, for Search"}
        if parts[0] == "_bulk":
            return 200, self._bulk(body)
        if parts[0] == "_aliases":
            for action in body["actions"]:
                (kind, spec), *_ = action.items()
                members = self.aliases.setdefault(spec["alias"], [])
                if kind == "remove":
                    members.remove(spec["index"])
                else:
                    members.append(spec["index"])
            return 200, {"acknowledged": True}
        if parts[0] == "_alias":
            found = {i: {"aliases": {parts[1]: {}}} for i in self.aliases.get(parts[1], [])}
            return (200, found) if found else (404, {"error": f"alias [{parts[1]}] missing", "status": 404})
        name = parts[0]
        target = self.aliases.get(name, [name])[0] if name in self.aliases else name
        index = self.indices.get(target)
        op = parts[1] if len(parts) > 1 else None
        if op is None and method == "HEAD":
            return (200 if index else 404), None
        if op is None and method == "PUT":
            self.indices[name] = {"mappings": body["mappings"], "settings": body.get("settings"), "docs": {}}
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
        if index is None:
            return 404, _missing(name)
        if op == "_mapping" and method == "GET":
            return 200, {target: {"mappings": index["mappings"]}}
        if op == "_mapping":
            index["mappings"]["_meta"] = body["_meta"]
            return 200, {"acknowledged": True}
        if op in ("_settings", "_refresh"):
            return 200, {"acknowledged": True, "_shards": {"total": 1, "successful": 1, "failed": 0}}
        if op == "_count":
            return 200, {
                "count": len(index["docs"]),
                "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            }
        if op == "_mget":
            docs = [
                {"_index": target, "_id": i, "found": True, "_source": {"record": index["docs"][i]["record"]}}
                if i in index["docs"]
                else {"_index": target, "_id": i, "found": False}
                for i in body["ids"]
            ]
            return 200, {"docs": docs}
        if op == "_search":
            if body.get("sort") == [{"ord": "asc"}]:
                return 200, self._scan(target, index, body)
            reply = self.search_replies.pop(0)
            return reply(body) if callable(reply) else reply
        return 400, {"error": {"type": "fake_unsupported", "reason": f"{method} {path}"}, "status": 400}

    def _scan(self, target: str, index: dict, body: dict) -> dict:
        docs = sorted(index["docs"].values(), key=lambda d: d["ord"])
        after = body.get("search_after")
        if after:
            docs = [d for d in docs if d["ord"] > after[0]]
        docs = docs[: body["size"]]
        hits = [
            {
                "_index": target,
                "_id": d["product_id"],
                "_score": None,
                "_source": {"ord": d["ord"]},
                "sort": [d["ord"]],
            }
            for d in docs
        ]
        return search_reply(hits, total=None)

    def _bulk(self, lines: list[dict]) -> dict:
        items, errors = [], False
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            meta = action["index"]
            attempt = self._attempts.get(meta["_id"], 0)
            self._attempts[meta["_id"]] = attempt + 1
            status, error = self.bulk_item_status(meta["_id"], attempt)
            item: dict[str, Any] = {"_index": meta["_index"], "_id": meta["_id"], "status": status}
            if error is None:
                self.indices[meta["_index"]]["docs"][meta["_id"]] = source
                item["result"] = "created"
            else:
                item["error"] = error
                errors = True
            items.append({"index": item})
        return {"took": 3, "errors": errors, "items": items}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if raw and "ndjson" in (self.headers.get("content-type") or ""):
                    body: Any = [json.loads(line) for line in raw.splitlines() if line.strip()]
                else:
                    body = json.loads(raw) if raw else None
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": split.path,
                        "query": parse_qs(split.query),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                if fake.delay:
                    time.sleep(fake.delay)
                status, reply = fake.handle(self.command, split.path, parse_qs(split.query), body)
                data = b"" if reply is None else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=9")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    with contextlib.suppress(BrokenPipeError):  # the client gave up (the timeout test)
                        self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _serve

        return Handler


def _missing(name: str) -> dict:
    reason = f"no such index [{name}]"
    cause = {"type": "index_not_found_exception", "reason": reason, "index": name}
    return {"error": {"root_cause": [cause], **cause}, "status": 404}


def search_reply(hits: list[dict], total: int | None = 0, relation: str = "eq", **extra: Any) -> dict:
    """A search response body in the documented format."""
    body: dict[str, Any] = {
        "took": 2,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"max_score": None, "hits": hits},
    }
    if total is not None:
        body["hits"]["total"] = {"value": total, "relation": relation}
    body.update(extra)
    return body
