"""``ServerSettings``: everything ``prgym serve`` is configured with (validated once, passed to every worker)."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.defaults import DEFAULT_MAX_STEPS
from sandbox.env.per_call import PlanMode

#: Environment variable holding the bearer token (so it need not appear on a command line).
TOKEN_ENV = "PRGYM_SERVER_TOKEN"
#: Environment variable through which ``prgym serve`` hands its settings to uvicorn worker processes.
SETTINGS_ENV = "PRGYM_SERVER_SETTINGS"


class ServerSettings(BaseModel):
    """Settings of one ``prgym serve`` process (and each of its workers)."""

    model_config = ConfigDict(extra="forbid")

    catalog: Path = Field(description="Catalog snapshot directory, opened once per worker process.")
    tasks: Path | None = Field(default=None, description="Task file; lets clients reset with a task_id.")
    task_mode: Literal["research", "shopping"] | None = Field(
        default=None, description="Default task kind (None: from the task file, else research)."
    )
    backend_kind: str = "lexical"
    max_steps: int = Field(default=DEFAULT_MAX_STEPS, ge=1)
    plan_mode: PlanMode | None = Field(
        default=None, description="Default plan mode (None: the env's default)."
    )
    max_tool_result_chars: int | None = Field(default=None, ge=1)
    web: dict[str, Any] | None = Field(
        default=None,
        description="A sandbox.web.WebConfig (dict form) to offer web_search / web_visit; None: no web tools.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    token: str | None = Field(default=None, repr=False)
    insecure_no_auth: bool = False
    max_sessions: int = Field(default=128, ge=1, description="Concurrent sessions per worker.")
    idle_ttl_s: float = Field(default=600.0, gt=0, description="A session idle this long is closed.")
    step_timeout_s: float = Field(
        default=60.0, gt=0, description="A reset or step running longer is abandoned."
    )
    max_message_bytes: int = Field(
        default=1_000_000, ge=1024, description="Largest WebSocket frame accepted."
    )
    max_request_bytes: int = Field(
        default=1_000_000, ge=1024, description="Largest HTTP request body accepted."
    )
    step_threads: int = Field(default=16, ge=1, description="Threads running env steps, per worker.")
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, description="How long shutdown waits for in-flight steps."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("web")
    @classmethod
    def _web(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        from sandbox.web import WebConfig

        try:
            return WebConfig.model_validate(value).model_dump(mode="json")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where}: {first['msg']}") from None

    @model_validator(mode="after")
    def _auth(self) -> ServerSettings:
        if self.token is not None and not self.token.strip():
            raise ValueError("the token is empty; pass a non-empty --token or set PRGYM_SERVER_TOKEN")
        if self.token is None and not self.insecure_no_auth:
            raise ValueError(
                f"no token: pass --token or set {TOKEN_ENV} (or --insecure-no-auth on a loopback address)"
            )
        if self.token is None and self.insecure_no_auth and not is_loopback(self.host):
            raise ValueError(
                f"--insecure-no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost), "
                f"not {self.host!r}; set a token to listen on other interfaces"
            )
        return self

    def to_env(self) -> str:
        """JSON for :data:`SETTINGS_ENV` (the token included: it stays in the process environment)."""
        return json.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_env(cls) -> ServerSettings:
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            raise RuntimeError(f"{SETTINGS_ENV} is not set: start the server with `prgym serve`")
        return cls.model_validate_json(raw)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
