"""``prgym llm check``: ask a server what it supports before running episodes against it.

"OpenAI-compatible" servers differ in exactly the features an agent needs (see :mod:`.compat`), and finding out
inside a run costs an episode per discovery. The probe sends a handful of small requests and reads what came back:

1. a **plain call** (the endpoint works at all: a refused connection, a timeout or an HTTP error here is a
   :class:`ProbeError`, one line naming the URL);
2. a **tool call** with ``tool_choice: "auto"`` and the same request **without** ``tool_choice``
   (llama-cpp-python's ``chatml-function-calling`` ignores tools without it); each is answered natively
   (``tool_calls``), **as text** (one of the forms :mod:`sandbox.env.text_calls` reads, named), or not at all;
3. a request for **two calls in one reply** (parallel calls);
4. an assistant turn with **``content: null`` beside its tool calls**, as OpenAI writes it (llama-cpp-python
   answers HTTP 500; prgym then writes ``""``);
5. the **reasoning field** of any reply (``reasoning_content`` or ``reasoning``);
6. the **context size** where the server reports it (:mod:`.context`: vLLM ``max_model_len``, llama.cpp
   ``/props`` and ``meta.n_ctx_train``) and hints at the server kind (``owned_by``, ``/props``, Ollama's
   ``/api/version``).

From these it suggests a ``compat`` profile. A failed feature request (an HTTP error, a timeout) is reported in
its row, not raised: a server that crashes on tools is what the probe is for. Requests are not retried.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlparse

import httpx
from pydantic import BaseModel, Field

from harness.llm.client import ChatResult, LLMClient, LLMError
from harness.llm.config import LLMConfig
from harness.llm.context import ContextSize, from_models, from_props, server_root
from harness.llm.limits import EndpointLimits
from sandbox.env.text_calls import find_text_calls
from sandbox.errors import UserError

#: Seconds each GET (``/models``, ``/props``, ``/api/version``) may take.
GET_TIMEOUT_S = 10.0
#: Completion tokens per probe call when the config sets none (room for a tool call's JSON).
PROBE_MAX_TOKENS = 128
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
            "required": ["city"],
        },
    },
}
PLAIN_PROMPT = [{"role": "user", "content": "Reply with the single word: ready"}]
TOOL_PROMPT = [
    {"role": "system", "content": "You are a helpful assistant. Use the tools when they help."},
    {"role": "user", "content": "What is the weather in Paris right now? Call the get_weather tool."},
]
PARALLEL_PROMPT = [
    {"role": "system", "content": "You are a helpful assistant. Use the tools when they help."},
    {
        "role": "user",
        "content": "Call get_weather twice in this one reply: once for Paris and once for Tokyo.",
    },
]
NULL_CONTENT_CHAT = [
    TOOL_PROMPT[0],
    TOOL_PROMPT[1],
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "18 C, light rain"},
]

Answer = Literal["native", "text", "none", "error"]


class ProbeError(UserError):
    """The endpoint cannot be probed at all: nothing listens, no answer in time, or the plain call failed."""


class CallProbe(BaseModel):
    """What one probe request got back."""

    answer: Answer
    calls: int = 0
    """Tool calls in the reply (native, or read from the text)."""
    text_form: str | None = None
    """The text form the calls were written in (``hermes``, ``tool_code``, ...) when ``answer == "text"``."""
    names: list[str] = Field(default_factory=list)
    detail: str = ""
    latency_s: float | None = None
    finish_reason: str | None = None


class ProbeReport(BaseModel):
    """Everything ``prgym llm check`` found, and the profile it suggests (``--json`` prints this)."""

    base_url: str
    model: str
    served_models: list[str] = Field(default_factory=list)
    server_hints: list[str] = Field(default_factory=list)
    plain: CallProbe
    plain_reply: str = ""
    tool_auto: CallProbe
    tool_without_choice: CallProbe
    parallel: CallProbe
    null_content: Literal["accepted", "refused", "unknown"]
    null_content_detail: str = ""
    reasoning_field: str | None = None
    context_tokens: int | None = None
    context_source: str | None = None
    tool_calls: Literal["native", "text", "none"]
    text_forms: list[str] = Field(default_factory=list)
    tool_choice: Literal["needed", "optional", "refused", "no effect"]
    parallel_calls: bool
    suggested_compat: str
    suggestion_reason: str

    @property
    def usable_for_agents(self) -> bool:
        """The research agent needs tool calls, native or as text."""
        return self.tool_calls != "none"

    def flags(self) -> list[str]:
        """The ``--llm-set`` flags that follow from the report."""
        out = [f"--llm-set base_url={self.base_url}", f"--llm-set model={self.model}"]
        out.append(f"--llm-set compat={self.suggested_compat}")
        if self.context_tokens:
            out.append(f"--llm-set max_context_tokens={self.context_tokens}")
        return out


def classify_reply(result: ChatResult, tool_name: str | None = WEATHER_TOOL["function"]["name"]) -> CallProbe:
    """Native tool calls, calls written as text (which form), or none, in one reply."""
    common = {"latency_s": round(result.latency_s, 3), "finish_reason": result.finish_reason}
    if result.tool_calls:
        names = [str((c.get("function") or {}).get("name")) for c in result.tool_calls if isinstance(c, dict)]
        return CallProbe(answer="native", calls=len(result.tool_calls), names=names, **common)
    content = result.content or ""
    found = find_text_calls(content) if content else None
    if found is not None:
        names = [str(e.call.get("name")) for e in found.entries if e.call is not None]
        if names:
            detail = "" if tool_name in names else f"called {', '.join(names)}, not {tool_name}"
            return CallProbe(
                answer="text", calls=len(names), text_form=found.format, names=names, detail=detail, **common
            )
    return CallProbe(answer="none", detail=_snippet(content) or "(empty reply)", **common)


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _error_probe(exc: LLMError) -> CallProbe:
    status = f" {exc.status}" if exc.status is not None else ""
    return CallProbe(answer="error", detail=_snippet(f"{exc.reason}{status}: {server_message(exc)}", 160))


def failure_text(exc: LLMError, timeout_s: float) -> str:
    """A failed call in words: what the transport or the server said, without the SDK's wording (the aiohttp
    transport calls a refused connection "Request timed out")."""
    if exc.reason == "connection_refused":
        return "connection refused (nothing is listening there)"
    if exc.reason == "timeout":
        return f"no reply within {timeout_s:g} s (raise --llm-set timeout_s=SECONDS for a slow server)"
    if exc.reason == "connection":
        return f"connection failed ({_snippet(exc.detail, 200)})"
    status = f" (HTTP {exc.status})" if exc.status is not None else ""
    said = server_message(exc)
    return f"{exc.reason}{status}" + (f": {_snippet(said, 200)}" if said else "")


def server_message(exc: LLMError) -> str:
    """The ``message`` of the server's error body when it sent one, else the recorded detail."""
    cause = exc.__cause__
    body = getattr(cause, "body", None)
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, str) and message.strip():
            return message
    return exc.detail


def _is_local(base_url: str) -> bool:
    return (urlparse(base_url).hostname or "") in LOCAL_HOSTS


def suggest_compat(hints: list[str], null_content: str, base_url: str) -> tuple[str, str]:
    """``(profile, why)``: the server kind when it says what it is, else what its behaviour calls for."""
    text = " ".join(hints).lower()
    for name, marker, why in (
        ("vllm", "owned_by vllm", "/models says owned_by vllm"),
        ("sglang", "owned_by sglang", "/models says owned_by sglang"),
        ("ollama", "ollama", "the server answers Ollama's /api/version"),
        ("llamacpp", "llama.cpp", "the server answers llama.cpp's /props"),
        ("llamacpp", "owned_by llamacpp", "/models says owned_by llamacpp"),
    ):
        if marker in text:
            return name, why
    if null_content == "refused":
        if _is_local(base_url):
            return (
                "llamacpp",
                "it refuses content: null beside tool calls and runs on this machine (local timeouts)",
            )
        return "sglang", "it refuses content: null beside tool calls"
    return "openai", "it accepts OpenAI's message shapes and says nothing more about itself"


async def _get_json(http: httpx.AsyncClient, url: str, raise_connect: bool = False) -> Any:
    """The JSON at ``url``, or ``None`` for any failure (these GETs only add hints); with ``raise_connect``, a
    connection failure is a :class:`ProbeError` naming the URL."""
    try:
        response = await http.get(url)
    except httpx.ConnectError as exc:
        if raise_connect:
            raise ProbeError(
                f"cannot connect to the LLM endpoint at {url}: {exc or type(exc).__name__}"
            ) from None
        return None
    except httpx.HTTPError as exc:
        if raise_connect:
            raise ProbeError(f"GET {url} failed: {type(exc).__name__} {exc}".strip()) from None
        return None
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


async def _discover(config: LLMConfig) -> tuple[list[str], list[str], ContextSize | None]:
    """Served model ids, server hints and the reported context size, from the server's GET routes."""
    headers = {"Authorization": f"Bearer {config.resolved_api_key()}"}
    root = server_root(config.base_url)
    async with httpx.AsyncClient(timeout=GET_TIMEOUT_S, headers=headers) as http:
        models, props, version = await asyncio.gather(
            _get_json(http, config.base_url.rstrip("/") + "/models"),
            _get_json(http, root + "/props"),
            _get_json(http, root + "/api/version"),
        )
    served: list[str] = []
    hints: list[str] = []
    if isinstance(models, dict) and isinstance(models.get("data"), list):
        for entry in models["data"]:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                served.append(entry["id"])
                owner = entry.get("owned_by")
                if isinstance(owner, str) and f"owned_by {owner}" not in hints:
                    hints.append(f"owned_by {owner}")
    if isinstance(props, dict):
        hints.append("llama.cpp /props")
    if isinstance(version, dict) and "version" in version:
        hints.append(f"ollama {version['version']}")
    size = from_props(props) or from_models(models, config.model)
    return served, hints, size


async def list_models(config: LLMConfig) -> list[str]:
    """The model ids ``GET /models`` lists (empty when the route answers without any); a connection failure
    or timeout is a :class:`ProbeError` naming the URL."""
    headers = {"Authorization": f"Bearer {config.resolved_api_key()}"}
    async with httpx.AsyncClient(timeout=GET_TIMEOUT_S, headers=headers) as http:
        data = await _get_json(http, config.base_url.rstrip("/") + "/models", raise_connect=True)
    entries = data.get("data") if isinstance(data, dict) else None
    return [e["id"] for e in entries or [] if isinstance(e, dict) and isinstance(e.get("id"), str)]


async def _call(client: LLMClient, messages: list[dict[str, Any]], **params: Any) -> ChatResult | LLMError:
    try:
        return await client.chat(messages, **params)
    except LLMError as exc:
        return exc


def _tool_choice(auto: CallProbe, bare: CallProbe) -> Literal["needed", "optional", "refused", "no effect"]:
    auto_calls, bare_calls = auto.answer in ("native", "text"), bare.answer in ("native", "text")
    if auto.answer == "error" and bare_calls:
        return "refused"
    if auto_calls and not bare_calls:
        return "needed"
    if auto_calls or bare_calls:
        return "optional"
    return "no effect"


async def probe(config: LLMConfig, *, limits: EndpointLimits | None = None) -> ProbeReport:
    """Run every probe against ``config``'s endpoint (see the module docstring). Raises :class:`ProbeError`
    when the plain call fails."""
    probing = config.model_copy(
        update={"max_retries": 0, "max_tokens": config.max_tokens or PROBE_MAX_TOKENS, "max_concurrency": 1}
    )
    served, hints, size = await _discover(probing)
    # the null-content request must go out as OpenAI writes it, whatever profile the config names
    raw_shapes = probing.model_copy(update={"compat": "openai"})
    async with LLMClient(probing, limits=limits or EndpointLimits()) as client:
        plain = await _call(client, PLAIN_PROMPT)
        if isinstance(plain, LLMError):
            raise ProbeError(
                f"the LLM endpoint {config.base_url} (model {config.model}) failed a plain chat call: "
                + failure_text(plain, probing.timeout_s),
                hint="check the URL, the model name and that the server is running",
            )
        results: list[ChatResult] = [plain]
        probes: list[CallProbe] = []
        for messages, params in (
            (TOOL_PROMPT, {"tool_choice": "auto"}),
            (TOOL_PROMPT, {"tool_choice": None}),
            (PARALLEL_PROMPT, {"tool_choice": "auto"}),
        ):
            got = await _call(client, messages, tools=[WEATHER_TOOL], **params)
            if isinstance(got, LLMError):
                probes.append(_error_probe(got))
            else:
                results.append(got)
                probes.append(classify_reply(got))
    async with LLMClient(raw_shapes, limits=EndpointLimits()) as raw:
        followup = await _call(raw, NULL_CONTENT_CHAT, tools=[WEATHER_TOOL])
    if isinstance(followup, LLMError):
        refused = followup.status is not None and followup.reason in ("invalid_request", "http_error")
        null_content = "refused" if refused else "unknown"
        null_detail = _error_probe(followup).detail
    else:
        results.append(followup)
        null_content, null_detail = "accepted", _snippet(followup.content or "")
    auto, bare, parallel = probes
    answers = [p.answer for p in probes]
    tool_calls: Literal["native", "text", "none"] = (
        "native" if "native" in answers else "text" if "text" in answers else "none"
    )
    suggested, why = suggest_compat(hints, null_content, config.base_url)
    return ProbeReport(
        base_url=config.base_url,
        model=config.model,
        served_models=served,
        server_hints=hints,
        plain=classify_reply(plain, None),
        plain_reply=_snippet(plain.content or ""),
        tool_auto=auto,
        tool_without_choice=bare,
        parallel=parallel,
        null_content=null_content,
        null_content_detail=null_detail,
        reasoning_field=next((r.reasoning_field for r in results if r.reasoning_field), None),
        context_tokens=size.tokens if size else None,
        context_source=size.source if size else None,
        tool_calls=tool_calls,
        text_forms=sorted({p.text_form for p in probes if p.text_form}),
        tool_choice=_tool_choice(auto, bare),
        parallel_calls=parallel.calls >= 2,
        suggested_compat=suggested,
        suggestion_reason=why,
    )


def describe_call(result: CallProbe) -> str:
    """One table cell: ``native (1 call: get_weather)``, ``as text, hermes (1 call)``, ``none: <reply>``."""
    if result.answer == "error":
        return f"error: {result.detail}"
    if result.answer == "none":
        return f"no call: {result.detail}"
    count = f"{result.calls} call{'s' if result.calls != 1 else ''}: {', '.join(result.names)}"
    how = "native" if result.answer == "native" else f"as text ({result.text_form})"
    return f"{how}, {count}" + (f"; {result.detail}" if result.detail else "")


def report_rows(report: ProbeReport) -> list[tuple[str, str]]:
    """The ``(check, result)`` rows of the readable table."""
    context = (
        f"{report.context_tokens:,} tokens ({report.context_source})"
        if report.context_tokens
        else "not reported (set --llm-set max_context_tokens=N; a refusal's size is learnt during a run)"
    )
    parallel = "yes" if report.parallel_calls else "no"
    return [
        ("server", f"{report.base_url}, model {report.model}"),
        ("served models", ", ".join(report.served_models) or "(GET /models listed none)"),
        ("server hints", ", ".join(report.server_hints) or "none"),
        ("plain call", f"ok in {report.plain.latency_s:.2f} s: {report.plain_reply or '(empty reply)'}"),
        ("tool call, tool_choice=auto", describe_call(report.tool_auto)),
        ("tool call, no tool_choice", describe_call(report.tool_without_choice)),
        (
            "tool calls",
            report.tool_calls + (f" ({', '.join(report.text_forms)})" if report.text_forms else ""),
        ),
        ("tool_choice", report.tool_choice),
        ("parallel calls", f"{parallel} ({describe_call(report.parallel)})"),
        (
            "content: null beside tool calls",
            report.null_content + (f" ({report.null_content_detail})" if report.null_content_detail else ""),
        ),
        ("reasoning field", report.reasoning_field or "none seen"),
        ("context size", context),
        ("suggested compat", f"{report.suggested_compat}: {report.suggestion_reason}"),
    ]


def report_json(report: ProbeReport) -> str:
    """The report as one JSON object (with the suggested flags)."""
    data: Mapping[str, Any] = {
        **report.model_dump(),
        "usable_for_agents": report.usable_for_agents,
        "flags": report.flags(),
    }
    return json.dumps(data, sort_keys=True)
