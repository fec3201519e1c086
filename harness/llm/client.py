"""An async chat client for any OpenAI-compatible endpoint, built on the ``openai`` package.

What it adds over ``openai.AsyncOpenAI``:

- **Our own retries.** The SDK's retries are switched off (``max_retries=0``) and done here, so the policy is
  explicit and tested: retry on 408/409/429/5xx, connection errors, timeouts and unreadable bodies; exponential
  backoff with seeded "equal jitter"; the server's ``Retry-After`` / ``retry-after-ms`` honoured (capped);
  the attempt count is reported. A failure after the last attempt raises :class:`LLMError` with the reason.
- **A per-endpoint concurrency limit** shared by every client of the same ``base_url`` (:mod:`.limits`).
- **Token accounting** per call (:class:`ChatResult.usage`) and per client (:class:`UsageMeter`), optionally
  rolled up into a parent meter.
- **The assistant message as the server sent it**, as an OpenAI-format dict: ``tool_calls`` with their raw
  ``arguments`` strings (malformed JSON or unknown tool names are *not* checked here: the env answers them as
  the agent's mistakes) and ``reasoning_content`` when the server returns it (vLLM, SGLang, DeepSeek; also read
  from ``reasoning``).

The request goes through the SDK's documented low-level ``client.post(path, cast_to=object, body=...)`` rather
than ``chat.completions.create``: the typed path spends ~1.4 ms of CPU per call transforming the request and
validating the response into models (measured), which alone caps a 2-core box below 64 concurrent episodes at
100 ms latency, and its model would drop or reshape fields we want verbatim. Errors are the SDK's own
(``APIStatusError`` with the response, ``APITimeoutError``, ``APIConnectionError``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import openai
from pydantic import BaseModel, ConfigDict

from harness.llm.compat import estimate_tokens, shape_messages, shape_tools
from harness.llm.config import LLMConfig
from harness.llm.context import REPORTED_CONTEXT, from_error
from harness.llm.errors import classify_status, error_text, refused
from harness.llm.limits import DEFAULT_LIMITS, EndpointLimits
from harness.llm.usage import TokenUsage, UsageMeter
from sandbox.retry import backoff_delay, is_retryable_status, parse_retry_after
from sandbox.safety.text import clean_text

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# ``asyncio.timeout`` (3.11+) bounds an await without the extra task ``wait_for`` creates per call.
_deadline = getattr(asyncio, "timeout", None)


class LLMError(Exception):
    """A chat call failed for good. ``reason`` is one of ``timeout`` (no reply within the deadline),
    ``connection_refused`` (nothing listens at ``base_url``), ``connection`` (another transport failure),
    ``rate_limited``, ``server_error`` (5xx), ``invalid_request`` (a validation error, even on a 5xx: retrying
    sends the same body), ``context_length_exceeded`` (the prompt does not fit the model's context),
    ``bad_response`` (unreadable body after retries) or ``http_error`` (a 4xx that retrying cannot fix);
    ``status`` is the last HTTP status when there was one (see :mod:`harness.llm.errors`)."""

    def __init__(
        self,
        reason: str,
        *,
        attempts: int,
        status: int | None = None,
        detail: str = "",
        model: str = "",
        base_url: str = "",
    ) -> None:
        self.reason = reason
        self.attempts = attempts
        self.status = status
        self.detail = detail
        self.model = model
        self.base_url = base_url
        status_text = f", status {status}" if status is not None else ""
        super().__init__(
            f"LLM call to {model} at {base_url} failed after {attempts} attempt(s): {reason}{status_text}"
            + (f": {detail}" if detail else "")
        )


class ChatResult(BaseModel):
    """One successful chat completion."""

    model_config = ConfigDict(frozen=True)

    message: dict[str, Any]
    finish_reason: str | None
    usage: TokenUsage | None
    latency_s: float
    attempts: int
    model: str
    response_id: str | None = None
    replaced_chars: int = 0
    """Lone surrogates in the reply (``"\\ud83d"`` escapes decode to them) replaced by U+FFFD."""
    reasoning_field: str | None = None
    """The message field the server put its reasoning in (``reasoning_content`` or ``reasoning``), if any."""

    @property
    def content(self) -> str | None:
        return self.message.get("content")

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return list(self.message.get("tool_calls") or [])

    @property
    def reasoning_content(self) -> str | None:
        return self.message.get("reasoning_content")

    @property
    def truncated(self) -> bool:
        """The server stopped at ``max_tokens`` (``finish_reason == "length"``): content or tool-call
        arguments may be cut off."""
        return self.finish_reason == "length"


class _AttemptFailure(Exception):
    """One failed attempt, classified."""

    def __init__(
        self, reason: str, *, retryable: bool, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


def make_openai_client(config: LLMConfig, env: Mapping[str, str] | None = None) -> openai.AsyncOpenAI:
    """The SDK client for ``config``: SDK retries off, aiohttp transport when available (or asked for)."""
    http_client = None
    if config.http_backend in ("auto", "aiohttp"):
        factory = getattr(openai, "DefaultAioHttpClient", None)
        try:
            http_client = factory() if factory is not None else None
        except RuntimeError:  # the SDK's placeholder when aiohttp is not installed
            http_client = None
        if http_client is None and config.http_backend == "aiohttp":
            raise RuntimeError(
                "http_backend='aiohttp' needs the 'aiohttp' package (pip install 'openai[aiohttp]')"
            )
    return openai.AsyncOpenAI(
        base_url=config.base_url,
        api_key=config.resolved_api_key(env),
        max_retries=0,
        timeout=config.timeout_s,
        http_client=http_client,
    )


class LLMClient:
    """Chat with one role's endpoint. Build one per role (or per episode via :meth:`session`, which shares the
    connection pool but counts tokens separately); use it from one event loop; close it with :meth:`aclose`
    or ``async with``."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        limits: EndpointLimits | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        meter: UsageMeter | None = None,
        env: Mapping[str, str] | None = None,
        transport: openai.AsyncOpenAI | None = None,
    ) -> None:
        self.config = config
        self.limits = limits or DEFAULT_LIMITS
        self._sleep: Sleep = sleep or asyncio.sleep
        self.rng = rng or random.Random(config.jitter_seed)
        self.usage = meter or UsageMeter()
        self._owns_transport = transport is None
        self._openai = transport or make_openai_client(config, env)

    def session(self, meter: UsageMeter | None = None) -> LLMClient:
        """A client over the same connections and endpoint limit whose usage meter rolls up into this one's:
        one per episode gives per-episode token counts."""
        return LLMClient(
            self.config,
            limits=self.limits,
            sleep=self._sleep,
            rng=self.rng,
            meter=meter or UsageMeter(parent=self.usage),
            transport=self._openai,
        )

    async def aclose(self) -> None:
        if self._owns_transport:
            await self._openai.close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def build_body(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        """The request body: model, messages, sampling from the config, ``extra_body``, then per-call params.

        Shaped for the endpoint's ``compat`` profile (:mod:`harness.llm.compat`): no ``content: null`` beside
        tool calls where the server refuses it, tool schemas without the limits grammar-based servers expand,
        and ``tool_choice: "auto"`` with tools unless the config or the call chose one."""
        compat = self.config.profile()
        body: dict[str, Any] = {"model": self.config.model, "messages": shape_messages(messages, compat)}
        body.update(self.config.sampling())
        body.update(self.config.extra_body)
        if tools:
            body["tools"] = shape_tools(tools)
            if compat.tool_choice_auto:
                body.setdefault("tool_choice", "auto")
        body.update(params)
        if "tool_choice" in body and body["tool_choice"] is None:
            body.pop("tool_choice")  # an explicit None asks for no tool_choice field
        return body

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        **params: Any,
    ) -> ChatResult:
        """One chat completion (non-streaming), retried per the config. ``params`` are extra request fields
        (``tool_choice``, ``temperature``, ...) overriding the config for this call."""
        cfg = self.config
        body = self.build_body(messages, tools, params)
        timeout = cfg.profile().timeout_for(
            cfg.timeout_s, estimate_tokens(body["messages"], body.get("tools"))
        )
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                async with self.limits.slot(cfg.base_url, cfg.max_concurrency):
                    data = await self._attempt(body, timeout)
                result = self._parse(data, attempts, time.monotonic() - started)
            except _AttemptFailure as failure:
                if not failure.retryable or attempts > cfg.max_retries:
                    self.usage.record(None, attempts=attempts, failed=True)
                    raise LLMError(
                        failure.reason,
                        attempts=attempts,
                        status=failure.status,
                        detail=_detail(failure.__cause__),
                        model=cfg.model,
                        base_url=cfg.base_url,
                    ) from failure.__cause__
                wait = self._wait_before_retry(attempts, failure)
                log.info(
                    "LLM %s attempt %d failed (%s%s); retrying in %.2fs",
                    cfg.model,
                    attempts,
                    failure.reason,
                    f" {failure.status}" if failure.status else "",
                    wait,
                )
                await self._sleep(wait)
                continue
            self.usage.record(result.usage, attempts=attempts)
            return result

    def _wait_before_retry(self, attempt: int, failure: _AttemptFailure) -> float:
        cfg = self.config
        if failure.retry_after is not None:
            return min(failure.retry_after, cfg.retry_after_cap_s)
        return backoff_delay(attempt, cfg.backoff_base_s, cfg.backoff_cap_s, self.rng)

    async def _attempt(self, body: dict[str, Any], timeout: float | None = None) -> Any:
        timeout = self.config.timeout_s if timeout is None else timeout
        request = self._openai.post(
            "/chat/completions", cast_to=object, body=body, options={"timeout": timeout, "max_retries": 0}
        )
        try:
            # The SDK's timeout bounds each phase (connect, each read); this deadline bounds the whole attempt,
            # so a server that trickles bytes cannot hold a slot forever.
            if _deadline is not None:
                async with _deadline(timeout):
                    return await request
            return await asyncio.wait_for(request, timeout)
        except openai.APIStatusError as exc:
            status = exc.status_code
            text = error_text(exc.body, exc.message)
            reason, retryable = classify_status(status, text)
            if reason == "context_length_exceeded":  # later calls trim to the size the refusal names
                REPORTED_CONTEXT.record(self.config.base_url, from_error(text))
            retryable = retryable and is_retryable_status(status)
            retry_after = parse_retry_after(exc.response.headers) if retryable else None
            raise _AttemptFailure(
                reason, retryable=retryable, status=status, retry_after=retry_after
            ) from exc
        except (openai.APITimeoutError, asyncio.TimeoutError) as exc:
            # the aiohttp transport reports a refused connect as a timeout; the cause chain says which it was
            raise _AttemptFailure(
                "connection_refused" if refused(exc) else "timeout", retryable=True
            ) from exc
        except openai.APIConnectionError as exc:
            reason = "connection_refused" if refused(exc) else "connection"
            raise _AttemptFailure(reason, retryable=True) from exc
        except ValueError as exc:  # a 200 whose body is not JSON (e.g. cut off mid-way)
            raise _AttemptFailure("bad_response", retryable=True) from exc

    def _parse(self, data: Any, attempts: int, latency_s: float) -> ChatResult:
        try:
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}: {str(data)[:200]!r}")
            choices = data.get("choices")
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                raise ValueError(f"no choices in the reply: {json.dumps(data)[:300]}")
            message = choices[0].get("message")
            if not isinstance(message, dict):
                raise ValueError(f"choice 0 has no message object: {json.dumps(choices[0])[:300]}")
        except ValueError as exc:
            raise _AttemptFailure("bad_response", retryable=True) from exc
        normalized, replaced = valid_utf8(normalize_message(message))
        field = next((k for k in ("reasoning_content", "reasoning") if isinstance(message.get(k), str)), None)
        return ChatResult(
            message=normalized,
            replaced_chars=replaced,
            reasoning_field=field,
            finish_reason=choices[0].get("finish_reason"),
            usage=TokenUsage.from_response(data.get("usage")),
            latency_s=latency_s,
            attempts=attempts,
            model=str(data.get("model") or self.config.model),
            response_id=data.get("id") if isinstance(data.get("id"), str) else None,
        )


def _detail(exc: BaseException | None) -> str:
    """What the record says about the last failure: the server's error text for an HTTP error."""
    if exc is None:
        return ""
    if isinstance(exc, openai.APIStatusError):
        return error_text(exc.body, exc.message)
    return str(exc)[:600]


def valid_utf8(value: Any) -> tuple[Any, int]:
    """A copy of a decoded JSON reply whose strings are all valid UTF-8, and how many characters were replaced.

    A server's ``"\\ud83d"`` escape decodes to a lone surrogate that makes every later trace write fail.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        total, out = 0, {}
        for key, item in value.items():
            out[key], n = valid_utf8(item)
            total += n
        return out, total
    if isinstance(value, list):
        total, items = 0, []
        for item in value:
            cleaned, n = valid_utf8(item)
            items.append(cleaned)
            total += n
        return items, total
    return value, 0


def normalize_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The assistant message in OpenAI chat format, as close to the server's as the format allows.

    Kept verbatim: ``content``, each tool call's ``id``, name and ``arguments`` string (even when it is not
    valid JSON). Normalised: ``role`` is ``assistant``; non-string ``arguments`` (some servers send an object)
    become JSON strings; a missing tool-call ``type`` becomes ``function``; ``reasoning`` (another spelling used
    by some servers) is kept as ``reasoning_content``. Empty ``tool_calls`` lists are dropped.
    """
    out: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    raw_calls = message.get("tool_calls")
    if isinstance(raw_calls, list) and raw_calls:
        calls = []
        for raw in raw_calls:
            if not isinstance(raw, dict):
                calls.append(raw)  # the env reports it as malformed
                continue
            call = dict(raw)
            call.setdefault("type", "function")
            function = call.get("function")
            if isinstance(function, dict):
                function = dict(function)
                arguments = function.get("arguments")
                if arguments is not None and not isinstance(arguments, str):
                    function["arguments"] = json.dumps(arguments)
                call["function"] = function
            calls.append(call)
        out["tool_calls"] = calls
    reasoning = message.get("reasoning_content")
    if not isinstance(reasoning, str):
        reasoning = message.get("reasoning")
    if isinstance(reasoning, str):
        out["reasoning_content"] = reasoning
    return out
