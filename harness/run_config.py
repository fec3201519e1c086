"""``prgym run --config run.toml``: a command's options from a TOML file; flags on the command line override it.

The file's keys are the command's long option names, with dashes or underscores (``max-steps = 60`` or
``max_steps = 60``); a repeatable option takes a list (``policy = ["scripted", "openai:gpt-4o-mini"]``, a single
value works too), and the ``key=value`` options also take a table (``[env-arg]`` / ``[llm-set]``: one key per
line, values as in TOML). Paths are read as they would be on the command line (relative to the current
directory). An unknown key or a file that is not TOML is one line naming the key and the file, and a value of
the wrong kind is the flag's own error (``Invalid value for '--max-steps'``); both exit 2.

The file becomes the command's click ``default_map``, so every value goes through the same conversion and checks
as its flag, and a value given on the command line wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tomllib
import typer

from sandbox.errors import UserError

#: Options whose values are ``key=value`` strings; a TOML table is turned into those.
_KEY_VALUE_OPTIONS = {"env_arg": "json", "llm_set": "text"}


class RunConfigError(UserError):
    """The ``--config`` file cannot be read as options of the command."""


def _key_value_items(name: str, table: dict[str, Any]) -> list[str]:
    """``{"backend_kind": "hybrid", "report_revisions": 2}`` -> ``["backend_kind=hybrid", "report_revisions=2"]``
    (env args as JSON, so numbers and tables keep their type; LLM settings as text)."""
    if _KEY_VALUE_OPTIONS[name] == "json":
        return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in table.items()]
    return [f"{k}={json.dumps(v) if isinstance(v, bool) else v}" for k, v in table.items()]


def config_defaults(path: Path, command: Any) -> dict[str, Any]:
    """The ``default_map`` of ``command`` (a click command) from the TOML file at ``path``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunConfigError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunConfigError(f"--config {path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RunConfigError(f"--config {path}: not valid TOML ({exc})") from None
    params = {
        p.name: p
        for p in command.params
        if p.param_type_name == "option" and p.name != "config" and not getattr(p, "hidden", False)
    }
    defaults: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        param = params.get(name)
        if param is None:
            known = ", ".join(sorted(n.replace("_", "-") for n in params))
            raise RunConfigError(f"{path}: unknown key {key!r}", hint=f"the keys are the options: {known}")
        if isinstance(value, dict):
            if name not in _KEY_VALUE_OPTIONS:
                raise RunConfigError(
                    f"{path}: {key} is a table; expected a value like its --{key} flag takes"
                )
            value = _key_value_items(name, value)
        if getattr(param, "multiple", False) and not isinstance(value, list):
            value = [value]
        elif isinstance(value, list) and not getattr(param, "multiple", False):
            raise RunConfigError(f"{path}: {key} takes one value, got a list")
        if name in _KEY_VALUE_OPTIONS:
            value = [str(v) for v in value]
        defaults[name] = value
    return defaults


def _load(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Eager ``--config`` callback: the file's values become defaults before the other options are read."""
    if value is not None:
        ctx.default_map = {**(ctx.default_map or {}), **config_defaults(value, ctx.command)}
    return value


def config_option() -> Any:
    """``--config FILE``: the command's options from a TOML file (see the module doc)."""
    return typer.Option(
        None,
        "--config",
        help="TOML file of this command's options (keys are the long option names); flags given override it.",
        is_eager=True,
        callback=_load,
        show_default=False,
    )
