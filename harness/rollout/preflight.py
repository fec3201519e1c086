"""Checks a run makes once, before its first episode, so a setup mistake costs one line rather than every episode.

Without them a run against an LLM endpoint that is down spends minutes failing each episode in turn (each after
its retries) and ends with a results file full of failures that a plain rerun then skips. So, before any episode:

- :func:`check_llm_endpoint` asks each distinct ``base_url`` for ``GET /models`` (every OpenAI-compatible server
  answers it: OpenAI, vLLM, SGLang, llama.cpp, Ollama): a refused connection, an unknown host, no answer in time
  or a rejected API key is a :class:`LLMEndpointError` naming the URL and what failed. Any other HTTP answer
  means something is listening, and the run goes on (a server without the route still serves chat). A context
  size in the answer (vLLM ``max_model_len``, llama.cpp ``meta.n_ctx_train`` or ``/props``) is recorded for the
  research agent's trimming (:mod:`harness.llm.context`).
- :class:`RunIdentity` (``OUT/run.json``) pins the catalog snapshot id, the seed and the task file checksum a run
  folder was started with; resuming it with different ones would mix two experiments in one ``results.jsonl``,
  so :func:`check_run_identity` refuses and says how to start a new run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from harness.llm.config import LLMConfig
from harness.llm.context import REPORTED_CONTEXT, from_models, from_props, server_root
from sandbox.errors import UserError

#: Seconds the endpoint check waits for an answer (a healthy server answers ``/models`` in milliseconds).
CHECK_TIMEOUT_S = 10.0
RUN_IDENTITY_NAME = "run.json"
ENDPOINT_HINT = (
    "start the server, or point the run at another one with --llm-set base_url=URL "
    "(or PRGYM_LLM_BASE_URL / --llm-config)"
)


class LLMEndpointError(UserError):
    """The LLM endpoint of a run cannot be used (nothing listening, unknown host, no answer, key rejected)."""


async def check_llm_endpoint(config: LLMConfig, *, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Raise :class:`LLMEndpointError` unless something at ``config.base_url`` answers HTTP and accepts the key."""
    url = config.base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {config.resolved_api_key()}"}
    where = f"LLM endpoint {config.base_url} (model {config.model})"
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(url, headers=headers)
    except httpx.ConnectError as exc:
        raise LLMEndpointError(
            f"cannot connect to the {where}: {_connect_problem(exc)}", hint=ENDPOINT_HINT
        ) from exc
    except httpx.TimeoutException as exc:
        raise LLMEndpointError(
            f"the {where} did not answer GET {url} within {timeout_s:g} s", hint=ENDPOINT_HINT
        ) from exc
    except httpx.HTTPError as exc:
        raise LLMEndpointError(
            f"the {where} failed: {type(exc).__name__}: {exc}", hint=ENDPOINT_HINT
        ) from exc
    if response.status_code in (401, 403):
        raise LLMEndpointError(
            f"the {where} rejected the API key (HTTP {response.status_code} on GET {url})",
            hint="set the key with --llm-set api_key_env=VARIABLE (the variable holding it)",
        )
    if response.status_code == 200:
        await _record_context(config, response, headers, timeout_s)


async def _record_context(
    config: LLMConfig, response: httpx.Response, headers: dict[str, str], timeout_s: float
) -> None:
    """Keep the context size the server reports (``/models``; llama.cpp's ``/props`` for ``compat=llamacpp``)
    in :data:`~harness.llm.context.REPORTED_CONTEXT`, so the research agent trims to it."""
    try:
        models = response.json()
    except ValueError:
        models = None
    size = None
    if config.compat == "llamacpp":
        try:
            async with httpx.AsyncClient(timeout=timeout_s) as client:
                props = await client.get(server_root(config.base_url) + "/props", headers=headers)
            size = from_props(props.json()) if props.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            size = None
    REPORTED_CONTEXT.record(config.base_url, size or from_models(models, config.model))


def _connect_problem(exc: httpx.ConnectError) -> str:
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    # httpx says "All connection attempts failed"; the exception it wraps says why.
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused (nothing is listening there)"
    text = " / ".join(dict.fromkeys(str(c) for c in causes if str(c))) or type(exc).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused (nothing is listening there)"
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or "resolution" in lowered
    ):
        return f"unknown host ({text})"
    return text


def file_checksum(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def text_checksum(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class RunIdentity(BaseModel):
    """``OUT/run.json``: what a run folder's episodes were run against; a resumed run must match it."""

    model_config = ConfigDict(extra="ignore")

    catalog_snapshot_id: str | None
    seed: int
    tasks_checksum: str
    tasks: str | None = None


def check_run_identity(out: Path, identity: RunIdentity) -> None:
    """Record ``identity`` in a new run folder; refuse (UserError) to resume one started with another identity.

    A folder whose results predate ``run.json`` is adopted as is (there is nothing to compare against).
    """
    path = Path(out) / RUN_IDENTITY_NAME
    if path.is_file():
        try:
            recorded = RunIdentity.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as exc:
            raise UserError(
                f"{path} is unreadable ({type(exc).__name__})",
                hint=f"start a new run with another --out (or delete {out})",
            ) from None
        changed = [
            f"{label} {old} -> {new}"
            for label, old, new in (
                ("catalog", recorded.catalog_snapshot_id, identity.catalog_snapshot_id),
                ("seed", recorded.seed, identity.seed),
                ("tasks", recorded.tasks_checksum, identity.tasks_checksum),
            )
            if old != new and not (label == "catalog" and (old is None or new is None))
        ]
        if changed:
            raise UserError(
                f"{out} holds a run with another setup ({'; '.join(changed)}); resuming it would mix two runs "
                "in one results.jsonl",
                hint=f"start a new run with another --out (or delete {out} to start this one afresh)",
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(identity.model_dump(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
