"""Per-process shared collaborators: one read-only catalog backend (and web tool, task set) per process.

Opening a snapshot costs an index open and memory; a vector of envs in one process must not pay it per env.
Backends are cached by (resolved snapshot path, snapshot id, backend kind), web tools by their configuration,
task sets by file path. Env kwargs only name paths and configs, so they pickle cleanly into
``AsyncVectorEnv`` workers, and each worker process opens its own copy once. After ``fork`` the child drops
the parent's cache, since SQLite connections and index readers must not cross a fork.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.catalog.backend import CatalogBackend
from sandbox.catalog.snapshot import read_manifest
from sandbox.tasks.taskset import TaskSet, load_tasks
from sandbox.tools.web_tools import WebToolProvider

_LOCK = threading.Lock()
_BACKENDS: dict[tuple[str, str, str], CatalogBackend] = {}
_WEB: dict[str, WebToolProvider] = {}
_TASKS: dict[tuple[str, float], TaskSet] = {}

BackendFactory = Callable[[Path], CatalogBackend]


def _lexical(path: Path) -> CatalogBackend:
    from sandbox.catalog.lexical import TantivyBackend

    return TantivyBackend(path)


def _dense_factory(kind: str) -> BackendFactory:
    def build(path: Path) -> CatalogBackend:
        try:
            from sandbox.catalog import dense
        except ImportError as exc:
            raise ValueError(
                f"backend kind {kind!r} needs the dense index support (sandbox.catalog.dense), which is not "
                f"installed here: {exc}"
            ) from exc
        # One backend serves every mode; the snapshot must have a dense index for these kinds.
        return dense.open_hybrid_backend(path)

    return build


BACKEND_FACTORIES: dict[str, BackendFactory] = {
    "lexical": _lexical,
    "dense": _dense_factory("dense"),
    "hybrid": _dense_factory("hybrid"),
}


ES_KIND = "elasticsearch"


def _elasticsearch(snapshot: str | Path | None, es_url: str | None) -> tuple[tuple[str, str, str], Any]:
    """Key and opener of the Elasticsearch backend: the snapshot's index (or the alias's) on ``es_url``."""
    snapshot_id = read_manifest(Path(snapshot).expanduser().resolve()).snapshot_id if snapshot else None
    url = es_url or os.environ.get("PRGYM_ES_URL")
    if not url:
        raise ValueError("backend 'elasticsearch' needs es_url=<cluster URL> (or PRGYM_ES_URL)")

    def open_() -> CatalogBackend:
        from sandbox.catalog.elasticsearch import ElasticsearchBackend, EsSettings

        return ElasticsearchBackend(EsSettings.from_env(url), snapshot_id=snapshot_id)

    return (url, snapshot_id or "<alias>", ES_KIND), open_


def shared_backend(
    snapshot: str | Path | None, kind: str = "lexical", *, es_url: str | None = None
) -> CatalogBackend:
    """The process-wide backend for ``snapshot`` (opened on first use).

    ``kind="elasticsearch"`` searches the snapshot's index on the cluster at ``es_url`` (``$PRGYM_ES_URL``);
    there ``snapshot`` only names which index (without it, the one the alias points at).
    """
    if kind == ES_KIND:
        key, open_ = _elasticsearch(snapshot, es_url)
        with _LOCK:
            backend = _BACKENDS.get(key)
            if backend is None:
                backend = _BACKENDS[key] = open_()
            return backend
    if kind not in BACKEND_FACTORIES:
        raise ValueError(
            f"unknown backend kind {kind!r}; expected one of {', '.join([*BACKEND_FACTORIES, ES_KIND])}"
        )
    if snapshot is None:
        raise ValueError(f"backend {kind!r} needs a snapshot directory")
    path = Path(snapshot).expanduser().resolve()
    snapshot_id = read_manifest(path).snapshot_id
    key = (str(path), snapshot_id, kind)
    with _LOCK:
        backend = _BACKENDS.get(key)
        if backend is None:
            backend = BACKEND_FACTORIES[kind](path)
            _BACKENDS[key] = backend
        return backend


def shared_web_tools(config: Any) -> WebToolProvider:
    """The process-wide web tool for a ``sandbox.web.WebConfig`` (or its dict form)."""
    from sandbox.web import WebConfig, build_web_tools

    cfg = config if isinstance(config, WebConfig) else WebConfig.model_validate(config)
    key = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
    with _LOCK:
        tools = _WEB.get(key)
        if tools is None:
            tools = build_web_tools(cfg)
            _WEB[key] = tools
        return tools


def shared_tasks(path: str | Path) -> TaskSet:
    """The process-wide task set loaded from ``path`` (reloaded when the file changes)."""
    resolved = Path(path).expanduser().resolve()
    key = (str(resolved), resolved.stat().st_mtime if resolved.is_file() else 0.0)
    with _LOCK:
        tasks = _TASKS.get(key)
        if tasks is None:
            tasks = load_tasks(resolved)
            _TASKS[key] = tasks
        return tasks


def clear_shared() -> None:
    """Forget every shared object (the next env opens fresh ones)."""
    with _LOCK:
        _BACKENDS.clear()
        _WEB.clear()
        _TASKS.clear()


def _after_fork_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()
    _BACKENDS.clear()
    _WEB.clear()
    _TASKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
