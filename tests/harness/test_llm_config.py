"""Per-role LLM configuration from file, environment and overrides; retry timing helpers."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from harness.llm import (
    ConfigError,
    LLMConfig,
    backoff_delay,
    is_retryable_status,
    load_llm_config,
    parse_retry_after,
)

TOML = """
[default]
base_url = "http://127.0.0.1:8000/v1"
temperature = 0.7
timeout_s = 30

[agent]
model = "qwen3-30b-a3b"
max_tokens = 2048
extra_body = { top_k = 20 }

[judge]
base_url = "https://api.openai.com/v1"
model = "gpt-4.1"
api_key_env = "MY_OPENAI_KEY"
temperature = 0.0
"""


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "llm.toml"
    path.write_text(TOML)
    return path


def test_file_tables_layer_default_then_role(toml_file: Path) -> None:
    agent = load_llm_config("agent", file=toml_file, env={})
    judge = load_llm_config("judge", file=toml_file, env={})
    assert (agent.base_url, agent.model, agent.temperature, agent.max_tokens) == (
        "http://127.0.0.1:8000/v1",
        "qwen3-30b-a3b",
        0.7,
        2048,
    )
    assert agent.extra_body == {"top_k": 20} and agent.timeout_s == 30
    assert (judge.base_url, judge.model, judge.temperature) == ("https://api.openai.com/v1", "gpt-4.1", 0.0)
    assert judge.resolved_api_key({"MY_OPENAI_KEY": "sk-judge"}) == "sk-judge"


def test_env_overrides_file_and_role_env_overrides_generic_env(toml_file: Path) -> None:
    env = {
        "PRGYM_LLM_TEMPERATURE": "0.5",
        "PRGYM_AGENT_TEMPERATURE": "0.1",
        "PRGYM_AGENT_BASE_URL": "http://gpu-box:30000/v1",
        "PRGYM_AGENT_API_KEY": "sk-agent",
        "PRGYM_AGENT_EXTRA_BODY": '{"chat_template_kwargs": {"enable_thinking": true}}',
        "PRGYM_JUDGE_MODEL": "",  # empty counts as unset
    }
    agent = load_llm_config("agent", file=toml_file, env=env)
    assert agent.temperature == 0.1 and agent.base_url == "http://gpu-box:30000/v1"
    assert agent.resolved_api_key() == "sk-agent"
    assert agent.extra_body == {"chat_template_kwargs": {"enable_thinking": True}}
    judge = load_llm_config("judge", file=toml_file, env=env)
    assert judge.temperature == 0.5 and judge.model == "gpt-4.1"


def test_overrides_win_and_accept_key_value_strings(toml_file: Path) -> None:
    env = {"PRGYM_AGENT_MODEL": "from-env"}
    config = load_llm_config(
        "agent",
        file=toml_file,
        env=env,
        overrides=["model=from-cli", "seed=7", "max_tokens=none", "top_p=0.95"],
    )
    assert (config.model, config.seed, config.max_tokens, config.top_p) == ("from-cli", 7, None, 0.95)
    assert load_llm_config("agent", env={}, overrides={"model": "m", "max_retries": 0}).max_retries == 0


def test_json_file_and_llm_nesting(tmp_path: Path) -> None:
    path = tmp_path / "llm.json"
    path.write_text('{"llm": {"supervisor": {"model": "sup", "max_concurrency": 4}}}')
    config = load_llm_config("supervisor", file=path, env={})
    assert config.model == "sup" and config.max_concurrency == 4


def test_errors_name_the_source_and_field(toml_file: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"temperature \(from environment variable PRGYM_AGENT_TEMPERATURE\)"
    ):
        load_llm_config("agent", file=toml_file, env={"PRGYM_AGENT_TEMPERATURE": "hot"})
    with pytest.raises(ConfigError, match=r"max_tokens \(from .*bad.toml \[agent\]\)"):
        bad = tmp_path / "bad.toml"
        bad.write_text('[agent]\nmodel = "m"\nmax_tokens = 0\n')
        load_llm_config("agent", file=bad, env={})
    with pytest.raises(
        ConfigError, match=r"no model given; set one with --llm-set model=NAME .*PRGYM_AGENT_MODEL"
    ):
        load_llm_config("agent", env={})
    with pytest.raises(ConfigError, match=r"unknown field\(s\) temprature"):
        typo = tmp_path / "typo.toml"
        typo.write_text('[agent]\nmodel = "m"\ntemprature = 0.2\n')
        load_llm_config("agent", file=typo, env={})
    with pytest.raises(ConfigError, match=r"override 'modle': unknown field"):
        load_llm_config("agent", env={}, overrides=["modle=x"])
    with pytest.raises(ConfigError, match=r"expected key=value"):
        load_llm_config("agent", env={}, overrides=["model"])
    with pytest.raises(ConfigError, match=r"PRGYM_AGENT_EXTRA_BODY: expected a JSON object"):
        load_llm_config("agent", env={"PRGYM_AGENT_MODEL": "m", "PRGYM_AGENT_EXTRA_BODY": "[1]"})
    with pytest.raises(ConfigError, match=r"no \[critic\] or \[default\] table \(tables found: agent\)"):
        only_agent = tmp_path / "agent.toml"
        only_agent.write_text('[agent]\nmodel = "m"\n')
        load_llm_config("critic", file=only_agent, env={})
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        broken = tmp_path / "broken.toml"
        broken.write_text("[agent\n")
        load_llm_config("agent", file=broken, env={})
    with pytest.raises(ConfigError, match=r"role 'Agent'"):
        load_llm_config("Agent", env={})


def test_api_key_resolution_never_leaks_openai_key() -> None:
    assert LLMConfig(model="m").resolved_api_key({"OPENAI_API_KEY": "sk-secret"}) == "EMPTY"
    with pytest.raises(ConfigError, match="MISSING_KEY is not set"):
        LLMConfig(model="m", api_key_env="MISSING_KEY").resolved_api_key({})
    config = LLMConfig(model="m", api_key="sk-visible")
    assert "sk-visible" not in repr(config) and "sk-visible" not in config.model_dump_json()


def test_backoff_is_exponential_capped_and_seeded() -> None:
    rng_a, rng_b = random.Random(3), random.Random(3)
    delays_a = [backoff_delay(n, 0.5, 4.0, rng_a) for n in range(1, 7)]
    delays_b = [backoff_delay(n, 0.5, 4.0, rng_b) for n in range(1, 7)]
    assert delays_a == delays_b
    nominal = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    for delay, cap in zip(delays_a, nominal, strict=True):
        assert cap / 2 <= delay <= cap
    with pytest.raises(ValueError):
        backoff_delay(0, 0.5, 4.0, rng_a)


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": format_datetime(now + timedelta(seconds=30))}, now=now) == 30.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None
    assert parse_retry_after({"Retry-After": "-4"}) == 0.0


def test_retryable_statuses() -> None:
    assert all(is_retryable_status(s) for s in (408, 409, 429, 500, 502, 503, 504, 529))
    assert not any(is_retryable_status(s) for s in (400, 401, 403, 404, 422))
