"""The ``prgym`` command line: one sub-command group per area (catalog, data, web, ...)."""

from __future__ import annotations

import typer

from harness.cli import catalog as catalog_cmd
from harness.cli import data as data_cmd
from harness.cli import demo as demo_cmd
from harness.cli import distill as distill_cmd
from harness.cli import eval as eval_cmd
from harness.cli import judge as judge_cmd
from harness.cli import llm as llm_cmd
from harness.cli import run as run_cmd
from harness.cli import serve as serve_cmd
from harness.cli import tasks as tasks_cmd
from harness.cli import view as view_cmd
from harness.cli import web as web_cmd
from harness.cli.errors import UserErrorGroup, set_debug
from harness.cli.logs import LOG_LEVEL_ENV, LogLevel, configure_logging
from harness.rollout.cli import run as rollout_cmd

app = typer.Typer(
    name="prgym",
    help="Catalog-grounded e-commerce sandbox and harness for deep product research agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=UserErrorGroup,
)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of an error instead of one line (or PRGYM_DEBUG=1)."
    ),
    log_level: LogLevel = typer.Option(
        None,
        "--log-level",
        envvar=LOG_LEVEL_ENV,
        help="Log prgym's own messages at this level on stderr (default: warnings and errors only).",
        show_default=False,
    ),
) -> None:
    """Catalog-grounded e-commerce sandbox and harness for deep product research agents.

    A mistake in the input (a missing file, a bad flag value, an incompatible snapshot) is reported as one line on
    stderr with exit code 2; add --debug before the command for the traceback. --log-level debug (before the
    command) shows what prgym logs: retries, resumes, repairs.
    """
    set_debug(debug)
    configure_logging(log_level)


app.add_typer(catalog_cmd.app, name="catalog", help="Build, search and inspect catalog snapshots.")
app.add_typer(data_cmd.app, name="data", help="Fetch and locate the sample datasets.")
app.add_typer(web_cmd.app, name="web", help="Web search cache and local corpus.")
app.add_typer(
    tasks_cmd.app, name="tasks", help="Task sets: generate, synthesize, convert ShoppingBench files."
)
app.command("run", help="Run policies on a task set over a catalog; resumable; prints the metrics.")(
    run_cmd.run
)
app.command("demo", help="The main job: sample data, catalog, tasks, the scripted agent, a report.")(
    demo_cmd.demo
)
app.command(
    "rollout", help="Generic runner: any Gymnasium env and policy, tasks x policies x trials (resumable)."
)(rollout_cmd)
app.command("serve", help="Serve the env over OpenEnv's protocol (WebSocket sessions, bearer token).")(
    serve_cmd.serve
)
app.add_typer(eval_cmd.eval_app, name="eval", help="Score a policy on a shopping suite or task file.")
app.add_typer(eval_cmd.bench_app, name="bench", help="Frozen benchmark suites: build and check.")
distill_cmd.register(app)
judge_cmd.register(app)
llm_cmd.register(app)
view_cmd.register(app)


def main() -> None:
    app()
