"""``prgym llm check``: what an OpenAI-compatible server supports, and the ``compat`` profile to use with it.

Exit codes: 0 when the server can drive the research agent (tool calls, native or as text), 1 when it answered
but made no tool call in any probe, 2 when it cannot be reached or fails a plain call (one line naming the URL).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.llm.config import ConfigError, LLMConfig, load_llm_config
from harness.llm.probe import ProbeError, list_models, probe, report_json, report_rows

app = typer.Typer(no_args_is_help=True, help="Check an OpenAI-compatible endpoint.")


def _config(role: str, llm_config: Path | None, llm_set: list[str]) -> LLMConfig:
    """The role's config; without a model anywhere, the first one the server lists."""
    try:
        return load_llm_config(role, file=llm_config, overrides=llm_set)
    except ConfigError as exc:
        if "model" not in str(exc):
            raise
        try:  # only the model is missing when this succeeds
            base = load_llm_config(role, file=llm_config, overrides=[*llm_set, "model=unset"])
        except ConfigError:
            raise exc from None
    served = asyncio.run(list_models(base))
    if not served:
        raise ProbeError(
            f"no model given and GET {base.base_url.rstrip('/')}/models lists none",
            hint="pass --llm-set model=NAME",
        )
    return base.model_copy(update={"model": served[0]})


@app.command("check")
def check(
    llm_set: list[str] = typer.Option(
        [],
        "--llm-set",
        help="An LLM field: key=value (base_url=..., model=..., api_key_env=..., timeout_s=...).",
    ),
    llm_config: Path | None = typer.Option(None, "--llm-config", help="TOML/JSON file with LLM tables."),
    role: str = typer.Option("agent", "--role", help="The role whose config to read (agent, judge, ...)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Probe an endpoint: plain call, tool call with and without tool_choice, parallel calls, content: null
    beside tool calls, reasoning fields, context size; suggest a compat profile."""
    config = _config(role, llm_config, llm_set)
    report = asyncio.run(probe(config))
    if as_json:
        typer.echo(report_json(report))
    else:
        table = Table(title=f"prgym llm check: {config.base_url}", show_lines=False)
        table.add_column("check", style="bold")
        table.add_column("result", overflow="fold")
        for name, value in report_rows(report):
            table.add_row(name, value)
        console = Console()
        console.print(table)
        console.print("use: " + " ".join(report.flags()), soft_wrap=True)
        if not report.usable_for_agents:
            console.print(
                "no tool call in any probe: the research agent cannot work with this server as it is served "
                "(serve the model with a tool-call parser or chat format, e.g. llama-cpp-python "
                "--chat_format chatml-function-calling, vLLM --enable-auto-tool-choice)",
                soft_wrap=True,
            )
    if not report.usable_for_agents:
        raise typer.Exit(1)


def register(app_: typer.Typer) -> None:
    """Mount ``prgym llm`` on the top-level app."""
    app_.add_typer(app, name="llm", help="Check an OpenAI-compatible LLM endpoint (prgym llm check).")
