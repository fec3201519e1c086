"""Connecting to a cluster: settings from arguments and the environment, one client, errors translated.

Credentials never go on a command line: ``PRGYM_ES_API_KEY`` (an encoded API key), or ``PRGYM_ES_USERNAME`` /
``PRGYM_ES_PASSWORD`` (basic auth; ``ELASTIC_PASSWORD``, as docker/.env sets it, implies user ``elastic``), and
``PRGYM_ES_CA_CERTS`` for a cluster with its own certificate authority (docker/ writes one).

Server versions: the elasticsearch-py client sends ``compatible-with=<its major>`` headers; a 9.x client talks to
9.x servers, an 8.x client (``pip install "elasticsearch>=8.12,<9"``) to 8.x and 9.x servers. A mismatch is
reported with that remedy instead of Elasticsearch's ``media_type_header_exception``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sandbox.catalog.elasticsearch.errors import (
    EsBackendError,
    EsConnectionError,
    EsRequestError,
    EsTimeoutError,
)
from sandbox.catalog.elasticsearch.mapping import DEFAULT_ALIAS
from sandbox.catalog.elasticsearch.response import error_message

ES_URL_ENV = "PRGYM_ES_URL"
T = TypeVar("T")


class EsSettings(BaseModel):
    """Where the cluster is, how to authenticate, and how the catalog's index is named."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Cluster URL, e.g. https://localhost:9200.")
    alias: str = Field(
        default=DEFAULT_ALIAS, pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Alias (index name)."
    )
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: str | None = None
    verify_certs: bool = True
    request_timeout: float = Field(default=30.0, gt=0, description="Seconds per request.")
    max_retries: int = Field(default=3, ge=0, description="Transport retries on connection errors / 502-504.")
    shards: int = Field(default=1, ge=1)
    replicas: int = Field(default=0, ge=0)

    @classmethod
    def from_env(cls, url: str | None = None, **overrides: Any) -> EsSettings:
        """Settings for ``url`` (default ``$PRGYM_ES_URL``) with credentials from the environment."""
        url = url or os.environ.get(ES_URL_ENV)
        if not url:
            raise EsBackendError(f"no Elasticsearch URL: pass --es URL or set {ES_URL_ENV}")
        env = os.environ
        password = env.get("PRGYM_ES_PASSWORD") or env.get("ELASTIC_PASSWORD")
        username = env.get("PRGYM_ES_USERNAME") or ("elastic" if password else None)
        values: dict[str, Any] = {
            "url": url,
            "api_key": env.get("PRGYM_ES_API_KEY") or None,
            "username": username,
            "password": password,
            "ca_certs": env.get("PRGYM_ES_CA_CERTS") or None,
        }
        if env.get("PRGYM_ES_VERIFY_CERTS", "").lower() in ("0", "false", "no"):
            values["verify_certs"] = False
        return cls(**(values | overrides))


def make_client(settings: EsSettings) -> Any:
    """An ``elasticsearch.Elasticsearch`` client for ``settings`` (the ``es`` extra must be installed)."""
    try:
        from elasticsearch import Elasticsearch
    except ImportError as exc:
        raise EsBackendError('the Elasticsearch backend needs the es extra: pip install "prgym[es]"') from exc
    kwargs: dict[str, Any] = {
        "request_timeout": settings.request_timeout,
        "max_retries": settings.max_retries,
        "retry_on_timeout": False,  # a slow query retried is a slower query; report it instead
    }
    if settings.api_key is not None:
        kwargs["api_key"] = settings.api_key.get_secret_value()
    elif settings.username and settings.password is not None:
        kwargs["basic_auth"] = (settings.username, settings.password.get_secret_value())
    if settings.url.startswith("https"):
        kwargs["verify_certs"] = settings.verify_certs
        if settings.ca_certs:
            kwargs["ca_certs"] = settings.ca_certs
    return Elasticsearch(settings.url, **kwargs)


def call(what: str, url: str, fn: Callable[[], T]) -> T:
    """Run one client call, turning transport exceptions into prgym errors that say what failed and why."""
    try:
        return fn()
    except Exception as exc:
        translated = translate_error(exc, what, url)
        if translated is exc:
            raise
        raise translated from exc


def translate_error(exc: BaseException, what: str, url: str) -> BaseException:
    """The prgym error for a client exception (``exc`` itself when it is not a client exception)."""
    from elastic_transport import ApiError, ConnectionError, ConnectionTimeout, TransportError

    try:
        raise exc
    except ConnectionTimeout:
        return EsTimeoutError(f"Elasticsearch at {url} did not answer {what} in time ({exc})")
    except ConnectionError:
        return EsConnectionError(
            f"cannot reach Elasticsearch at {url} ({what}): {exc}. Is the cluster up (docker compose up -d) "
            "and the URL right?"
        )
    except ApiError as api_error:
        status = getattr(api_error.meta, "status", None)
        body = api_error.body
        kind = (
            body.get("error", {}).get("type")
            if isinstance(body, dict) and isinstance(body.get("error"), dict)
            else None
        )
        if kind == "media_type_header_exception":
            import elasticsearch

            return EsRequestError(
                f"Elasticsearch at {url} rejected elasticsearch-py {elasticsearch.__versionstr__}'s compatibility "
                f"headers: the server is older than the client. For an 8.x server install "
                f'"elasticsearch>=8.12,<9" ({error_message(body, status)})',
                status=status,
                error_type=kind,
            )
        hint = (
            " (check PRGYM_ES_API_KEY or PRGYM_ES_USERNAME/PRGYM_ES_PASSWORD)" if status in (401, 403) else ""
        )
        return EsRequestError(
            f"Elasticsearch at {url} refused {what}: {error_message(body, status)}{hint}",
            status=status,
            error_type=kind,
        )
    except TransportError:
        return EsBackendError(f"Elasticsearch at {url}: {what} failed: {exc}")
    except BaseException:
        return exc
