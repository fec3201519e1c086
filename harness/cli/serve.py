"""``prgym serve``: the OpenEnv-compatible env server (see :mod:`harness.server`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from harness.cli.logs import chosen_level
from harness.flags import max_steps_option
from harness.server.settings import TOKEN_ENV, ServerSettings
from sandbox.errors import UserError


def serve(
    catalog: Path = typer.Option(
        ..., "--catalog", help="Catalog snapshot directory (opened once per worker)."
    ),
    tasks: Path = typer.Option(None, "--tasks", "-t", help="Task file, so clients can reset with a task_id."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="Port (0: any free port; the log says which)."),
    token: str = typer.Option(
        None, "--token", help=f"Bearer token clients must send (default: ${TOKEN_ENV})", show_default=False
    ),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve without a token (only on a loopback --host)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="uvicorn worker processes (sessions per worker)."
    ),
    max_sessions: int = typer.Option(128, "--max-sessions", min=1, help="Concurrent sessions per worker."),
    idle_ttl: float = typer.Option(600.0, "--idle-ttl", help="Close a session idle this many seconds."),
    step_timeout: float = typer.Option(
        60.0, "--step-timeout", help="Abandon a reset/step running longer (s)."
    ),
    max_message_bytes: int = typer.Option(1_000_000, "--max-message-bytes", help="Largest WebSocket frame."),
    max_request_bytes: int = typer.Option(
        1_000_000, "--max-request-bytes", help="Largest HTTP request body."
    ),
    max_steps: int = max_steps_option(),
    plan_mode: str = typer.Option(None, "--plan-mode", help="turn | tool | none (default: the env's)."),
    max_tool_result_chars: int = typer.Option(
        None, "--max-tool-result-chars", min=1, help="Cap each tool result's text (compact observations)."
    ),
    web: str = typer.Option(
        None,
        "--web",
        help="Offer web_search / web_visit: a WebConfig as a JSON object or a .json file "
        '(e.g. \'{"provider": "corpus", "corpus_dir": "corpus/", "mode": "live"}\'). Default: no web tools.',
    ),
    step_threads: int = typer.Option(
        16, "--step-threads", min=1, help="Threads running env steps, per worker."
    ),
    shutdown_grace: float = typer.Option(
        30.0, "--shutdown-grace", help="Seconds to let running steps finish."
    ),
    log_level: str = typer.Option(
        None,
        "--log-level",
        help="debug (every step) | info | warning | error (default: prgym --log-level, else info).",
        show_default=False,
    ),
) -> None:
    """Serve the prgym env over OpenEnv's protocol (WebSocket /ws sessions, /reset, /step, /schema, /healthz)."""
    if not (catalog / "manifest.json").is_file():
        raise UserError(f"--catalog {catalog}: not a snapshot directory (no manifest.json)")
    if tasks is not None and not tasks.exists():
        raise UserError(f"--tasks {tasks}: no such file or directory")
    try:
        settings = ServerSettings(
            catalog=catalog,
            tasks=tasks,
            host=host,
            port=port,
            token=token if token is not None else os.environ.get(TOKEN_ENV) or None,
            insecure_no_auth=insecure_no_auth,
            workers=workers,
            max_sessions=max_sessions,
            idle_ttl_s=idle_ttl,
            step_timeout_s=step_timeout,
            max_message_bytes=max_message_bytes,
            max_request_bytes=max_request_bytes,
            max_steps=max_steps,
            plan_mode=plan_mode,
            max_tool_result_chars=max_tool_result_chars,
            web=_web_config(web),
            step_threads=step_threads,
            shutdown_grace_s=shutdown_grace,
            log_level=log_level or chosen_level() or "info",
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(
            f"{where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}"
        ) from None
    from harness.server.serve import serve as run_server

    run_server(settings)


def _web_config(value: str | None) -> dict[str, Any] | None:
    """``--web``: JSON object text, or the path of a file holding one."""
    if value is None:
        return None
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        if not path.is_file():
            raise UserError(f"--web {value}: expected a JSON object or the path of a .json file holding one")
        text = path.read_text(encoding="utf-8")
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise UserError(f"--web: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise UserError("--web: expected a JSON object (a WebConfig), got " + type(config).__name__)
    return config
