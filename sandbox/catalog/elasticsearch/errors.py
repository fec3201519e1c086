"""Errors of the Elasticsearch backend: each says what failed, where, and what to do about it.

The official client raises transport-level exceptions (``ConnectionError``, ``ConnectionTimeout``, ``ApiError``)
whose text names neither the index nor the remedy. The backend translates them into these, so the CLI can print
one clear line and the env never mistakes a cluster outage for "no products match".
"""

from __future__ import annotations

from sandbox.errors import UserError


class EsBackendError(UserError, RuntimeError):
    """Anything the Elasticsearch backend could not do (the CLI prints it as one line, exit code 2)."""


class EsConnectionError(EsBackendError):
    """The cluster could not be reached (refused, DNS, TLS)."""


class EsTimeoutError(EsBackendError):
    """A request (or a search, ``timed_out: true``) took longer than allowed; results would be partial."""


class EsRequestError(EsBackendError):
    """Elasticsearch answered with an error (bad request, auth, missing index) or with failed shards."""

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class EsIndexMissingError(EsBackendError):
    """No complete index exists for the requested snapshot or alias."""
