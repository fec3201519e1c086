"""Elasticsearch catalog backend (the ``es`` extra): push a snapshot to a cluster, search it like the embedded one.

- :func:`push_snapshot` (``prgym catalog push``): index a snapshot (resumable) and move the alias to it.
- :class:`ElasticsearchBackend`: a ``CatalogBackend`` over that index (lexical, dense, hybrid).
- ``query`` / ``response``: request bodies and response parsing as pure functions.

Importing this package does not import the client; it loads when a cluster is first contacted.
"""

from sandbox.catalog.elasticsearch.backend import ElasticsearchBackend
from sandbox.catalog.elasticsearch.client import ES_URL_ENV, EsSettings, make_client
from sandbox.catalog.elasticsearch.errors import (
    EsBackendError,
    EsConnectionError,
    EsIndexMissingError,
    EsRequestError,
    EsTimeoutError,
)
from sandbox.catalog.elasticsearch.indexing import PushReport, push_snapshot, swap
from sandbox.catalog.elasticsearch.mapping import DEFAULT_ALIAS, index_name

__all__ = [
    "DEFAULT_ALIAS",
    "ES_URL_ENV",
    "ElasticsearchBackend",
    "EsBackendError",
    "EsConnectionError",
    "EsIndexMissingError",
    "EsRequestError",
    "EsSettings",
    "EsTimeoutError",
    "PushReport",
    "index_name",
    "make_client",
    "push_snapshot",
    "swap",
]
