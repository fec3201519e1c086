"""Per-role LLM endpoint settings, layered from a file, environment variables and CLI overrides.

Every role (research agent, user agent, supervisor, judge, ...) may talk to a different OpenAI-compatible
endpoint with different sampling settings, and every episode builds its own client from a config object: nothing
is read from module globals, so two episodes in one process can use two endpoints.

Layers, lowest first (a later layer overrides a field set by an earlier one):

1. the field defaults below;
2. a TOML or JSON file: table ``[default]`` then table ``[<role>]`` (optionally nested under ``[llm]``);
3. environment ``PRGYM_LLM_<FIELD>`` (all roles) then ``PRGYM_<ROLE>_<FIELD>`` (e.g. ``PRGYM_AGENT_MODEL``);
4. explicit overrides (``--llm-set temperature=0.2`` on the CLI, or a dict).

A bad value raises :class:`ConfigError` naming the layer (file and table, variable or override) and the field.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from harness.llm.compat import CompatName, CompatProfile, profile
from sandbox.errors import UserError

ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
NONE_WORDS = frozenset({"none", "null"})


class ConfigError(UserError, ValueError):
    """A configuration value is missing or invalid; the message names where it came from."""


class LLMConfig(BaseModel):
    """Settings of one role's endpoint: where to send requests, how to sample, how patiently to retry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(default="https://api.openai.com/v1", min_length=1)
    model: str = Field(min_length=1)
    api_key: SecretStr | None = None
    api_key_env: str | None = Field(default=None, description="Environment variable holding the API key.")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    timeout_s: float = Field(default=60.0, gt=0, description="Deadline of one attempt (not of all retries).")
    max_retries: int = Field(default=4, ge=0, le=20, description="Retries after the first attempt.")
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_cap_s: float = Field(default=30.0, ge=0)
    retry_after_cap_s: float = Field(default=120.0, ge=0, description="Longest Retry-After honoured.")
    max_concurrency: int = Field(default=16, ge=1, description="In-flight requests per endpoint (base_url).")
    http_backend: Literal["auto", "httpx", "aiohttp"] = Field(
        default="auto",
        description="'auto' uses aiohttp when installed (much less CPU per request), else httpx.",
    )
    jitter_seed: int = Field(default=0, description="Seed of the backoff jitter generator.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Extra request fields, e.g. vLLM's top_k or chat_template_kwargs."
    )
    compat: CompatName = Field(
        default="openai",
        description="Server kind (openai, vllm, sglang, llamacpp, ollama): message shapes and timeouts it needs.",
    )
    max_context_tokens: int | None = Field(
        default=None,
        ge=256,
        description="The endpoint's context size; the research agent trims its chat to fit (server-reported "
        "sizes are used when this is unset).",
    )
    prompt_tokens_per_s: float | None = Field(
        default=None,
        gt=0,
        description="Slowest prompt evaluation a local profile's timeout allows for (default: the profile's).",
    )

    @model_validator(mode="after")
    def _check_backoff(self) -> LLMConfig:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError(
                f"backoff_cap_s ({self.backoff_cap_s}) must be >= backoff_base_s ({self.backoff_base_s})"
            )
        return self

    def resolved_api_key(self, env: Mapping[str, str] | None = None) -> str:
        """The key to send: ``api_key``, else the variable named by ``api_key_env``, else ``"EMPTY"`` (local
        servers such as vLLM or llama.cpp accept any key). The user's ``OPENAI_API_KEY`` is never sent implicitly
        to another endpoint: name it in ``api_key_env`` to use it."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            source = os.environ if env is None else env
            value = source.get(self.api_key_env)
            if not value:
                raise ConfigError(f"api_key_env: environment variable {self.api_key_env} is not set or empty")
            return value
        return "EMPTY"

    def profile(self) -> CompatProfile:
        """The :mod:`~harness.llm.compat` profile of this endpoint (with ``prompt_tokens_per_s`` applied)."""
        chosen = profile(self.compat)
        if self.prompt_tokens_per_s is not None:
            chosen = chosen.model_copy(update={"prompt_tokens_per_s": self.prompt_tokens_per_s})
        return chosen

    def sampling(self) -> dict[str, Any]:
        """The sampling fields that are set, as request-body entries."""
        fields = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        return {k: v for k, v in fields.items() if v is not None}


FIELD_NAMES = tuple(LLMConfig.model_fields)
_DICT_FIELDS = frozenset({"extra_body"})
_OPTIONAL_FIELDS = frozenset(
    name for name, info in LLMConfig.model_fields.items() if not info.is_required() and info.default is None
)


def load_llm_config(
    role: str,
    *,
    file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> LLMConfig:
    """Build the config of ``role`` from the layers in the module docstring.

    ``env`` defaults to ``os.environ`` (pass a dict in tests); ``overrides`` is a mapping or ``key=value``
    strings as typed on a command line.
    """
    if not ROLE_PATTERN.match(role):
        raise ConfigError(
            f"role {role!r}: expected lowercase letters, digits and '_' (e.g. 'agent', 'judge')"
        )
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}

    def apply(layer: Mapping[str, Any], source: str | Mapping[str, str]) -> None:
        for key, value in layer.items():
            values[key] = value
            origin[key] = source if isinstance(source, str) else source[key]

    if file is not None:
        for table, layer in _file_layers(Path(file), role):
            apply(layer, table)
    environ = os.environ if env is None else env
    for prefix in ("PRGYM_LLM_", f"PRGYM_{role.upper()}_"):
        apply(*_env_layer(environ, prefix))
    if overrides is not None:
        apply(_override_layer(overrides), "override")
    try:
        return LLMConfig(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            where = origin.get(field, "default")
            if field == "model" and error["type"] == "missing":
                # The one field without a default: say every way to give it, not pydantic's "Field required".
                problems.append(
                    f"no model given; set one with --llm-set model=NAME (and --llm-set base_url=URL for a "
                    f"local server), a [{role}] table in --llm-config FILE, or PRGYM_{role.upper()}_MODEL"
                )
                continue
            problems.append(f"{field or 'config'} (from {where}): {error['msg']}")
        raise ConfigError(f"LLM config for role {role!r}: " + "; ".join(problems)) from None


def _file_layers(path: Path, role: str) -> list[tuple[str, dict[str, Any]]]:
    data = _read_file(path)
    if isinstance(data.get("llm"), dict):
        data = data["llm"]
    layers = []
    for table in ("default", role):
        if table not in data:
            continue
        section = data[table]
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [{table}] must be a table of settings, got {type(section).__name__}")
        unknown = sorted(set(section) - set(FIELD_NAMES))
        if unknown:
            raise ConfigError(
                f"{path}: [{table}] has unknown field(s) {', '.join(unknown)}; expected some of {', '.join(FIELD_NAMES)}"
            )
        layers.append((f"{path} [{table}]", dict(section)))
    if not layers:
        tables = ", ".join(sorted(k for k, v in data.items() if isinstance(v, dict))) or "none"
        raise ConfigError(f"{path}: no [{role}] or [default] table (tables found: {tables})")
    return layers


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"LLM config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    else:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ModuleNotFoundError:
                raise ConfigError(f"{path}: reading TOML needs Python 3.11+ or the 'tomli' package") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table/object at the top level")
    return data


def _env_layer(environ: Mapping[str, str], prefix: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Fields set by ``<prefix><FIELD>`` variables (empty values count as unset), with each variable's name."""
    layer: dict[str, Any] = {}
    names: dict[str, str] = {}
    for field in FIELD_NAMES:
        name = prefix + field.upper()
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        layer[field] = _coerce(field, raw, f"environment variable {name}")
        names[field] = f"environment variable {name}"
    return layer, names


def _override_layer(overrides: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            key, sep, raw = str(item).partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"override {item!r}: expected key=value (e.g. temperature=0.2)")
            items.append((key.strip(), raw.strip()))
    layer: dict[str, Any] = {}
    for key, value in items:
        if key not in FIELD_NAMES:
            raise ConfigError(f"override {key!r}: unknown field; expected one of {', '.join(FIELD_NAMES)}")
        layer[key] = _coerce(key, value, f"override {key}") if isinstance(value, str) else value
    return layer


def _coerce(field: str, raw: str, where: str) -> Any:
    """Turn a string from the environment or a command line into what the field expects (pydantic then
    converts numbers and booleans in lax mode)."""
    if field in _OPTIONAL_FIELDS and raw.strip().lower() in NONE_WORDS:
        return None
    if field in _DICT_FIELDS:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: expected a JSON object, got invalid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {type(value).__name__}")
        return value
    return raw
