"""One CLI vocabulary (issue 10, tidy 5): walk every ``prgym`` command's parameters (typer -> click tree).

A short flag means one long option everywhere, ``--tasks`` is always a task file, a snapshot that is read is
always ``--catalog``, every long-running command has ``--progress/--no-progress``, and each renamed spelling is
a hidden alias that still works with a one-line note.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from harness.cli import app
from harness.flags import DEPRECATED_FLAGS

#: The short flags of the whole CLI and the one long option each stands for.
SHORT_FLAGS = {
    "-c": "--concurrency",
    "-g": "--goal",
    "-k": "--trials",
    "-n": "--n",
    "-o": "--out",
    "-p": "--policy",
    "-r": "--reference",
    "-t": "--tasks",
}

#: Commands that run long enough to show a progress bar.
LONG_COMMANDS = [
    "run", "rollout", "eval", "demo", "distill", "judge", "view", "catalog build", "catalog push",
    "data fetch", "web build-corpus", "tasks generate", "tasks synthesize", "bench build",
]  # fmt: skip

#: Commands that read a catalog snapshot (spelled --catalog in each).
READS_A_SNAPSHOT = [
    "run", "eval", "serve", "distill", "tasks generate", "tasks synthesize",
    "catalog search", "catalog show", "catalog stats", "catalog verify", "catalog push",
]  # fmt: skip


def _commands() -> dict[str, Any]:
    """Every leaf command (and ``eval``, a group that runs on its own) by its path, e.g. ``catalog search``."""
    found: dict[str, Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subs = getattr(command, "commands", None) or {}
        if path and (not subs or getattr(command, "invoke_without_command", False)):
            found[" ".join(path)] = command
        for name, sub in subs.items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def _options(command: Any, *, hidden: bool) -> list[Any]:
    return [
        p
        for p in command.params
        if p.param_type_name == "option"
        and bool(getattr(p, "hidden", False)) == hidden
        and "--help" not in p.opts
    ]


def _long(param: Any) -> str:
    return next(o for o in param.opts if o.startswith("--"))


def test_the_walk_sees_the_whole_cli() -> None:
    assert {"run", "rollout", "demo", "serve", "catalog search", "web cache stats", "tasks generate"} <= set(
        COMMANDS
    )
    assert len(COMMANDS) >= 25


def test_each_short_flag_means_one_long_option_everywhere() -> None:
    meanings: dict[str, set[str]] = defaultdict(set)
    where: dict[str, list[str]] = defaultdict(list)
    for name, command in COMMANDS.items():
        for param in _options(command, hidden=False):
            for short in (o for o in (*param.opts, *param.secondary_opts) if not o.startswith("--")):
                meanings[short].add(_long(param))
                where[short].append(name)
    ambiguous = {s: sorted(m) for s, m in meanings.items() if len(m) > 1}
    assert not ambiguous, f"short flags with several meanings: {ambiguous}"
    assert {s: next(iter(m)) for s, m in meanings.items()} == SHORT_FLAGS
    assert "demo" in where["-n"] and "catalog build" not in where["-p"] and "web search" not in where["-p"]


def test_a_long_option_with_a_short_flag_has_it_in_every_command() -> None:
    short_of = {long: short for short, long in SHORT_FLAGS.items()}
    lacking = [
        f"prgym {name} {_long(param)}"
        for name, command in COMMANDS.items()
        for param in _options(command, hidden=False)
        if _long(param) in short_of and short_of[_long(param)] not in param.opts
    ]
    assert not lacking, f"without their short flag: {lacking}"


def test_tasks_is_always_a_task_file() -> None:
    seen = []
    for name, command in COMMANDS.items():
        for param in _options(command, hidden=False):
            if "--tasks" in param.opts:
                seen.append(name)
                assert param.type_descriptor.annotation in (Path, Path | None), (name, param.type_descriptor)
    assert {"run", "rollout", "eval", "serve"} <= set(seen) and "demo" not in seen


def test_a_snapshot_read_is_always_catalog() -> None:
    for name in READS_A_SNAPSHOT:
        longs = {_long(p) for p in _options(COMMANDS[name], hidden=False)}
        assert "--catalog" in longs, name
    for name, command in COMMANDS.items():
        assert "--snapshot" not in {_long(p) for p in _options(command, hidden=False)}, name
        visible_args = [p for p in command.params if p.param_type_name == "argument" and not p.hidden]
        assert not [p for p in visible_args if p.name in ("snapshot", "catalog")], name


def test_every_hidden_option_is_a_deprecated_spelling_of_a_visible_one() -> None:
    for name, command in COMMANDS.items():
        visible = {o for p in _options(command, hidden=False) for o in (*p.opts, *p.secondary_opts)}
        for param in _options(command, hidden=True):
            new = str(param.help).removeprefix("Deprecated: use ").removesuffix(".")
            for flag in param.opts:
                assert (flag, new) in DEPRECATED_FLAGS, (
                    f"prgym {name}: hidden {flag} is not a deprecated alias"
                )
                assert new in visible, f"prgym {name}: {flag} is the old spelling of {new}, which it lacks"


@pytest.mark.parametrize("name", LONG_COMMANDS)
def test_long_commands_have_progress(name: str) -> None:
    flags = {(*p.opts, *p.secondary_opts) for p in _options(COMMANDS[name], hidden=False)}
    assert ("--progress", "--no-progress") in flags, name


@pytest.mark.parametrize(
    "name", ["catalog search", "catalog show", "catalog stats", "catalog verify", "catalog push"]
)
def test_catalog_inspection_has_json(name: str) -> None:
    assert "--json" in {_long(p) for p in _options(COMMANDS[name], hidden=False)}


runner = CliRunner()


def test_an_old_spelling_together_with_its_new_one_is_one_line_exit_2() -> None:
    result = runner.invoke(app, ["demo", "--n", "2", "--tasks", "3"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: give --n only (--tasks is its old spelling)"


def test_judge_cache_is_one_name(tmp_path: Path) -> None:
    both = runner.invoke(
        app, ["judge", str(tmp_path), "-r", str(tmp_path), "--cache", "a", "--judge-cache", "b"]
    )
    assert both.exit_code == 2 and "give --judge-cache only (--cache is its old spelling)" in both.output
    for name in ("judge", "eval"):
        assert "--judge-cache" in {_long(p) for p in _options(COMMANDS[name], hidden=False)}


def test_quiet_is_the_old_no_progress(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "fetch", "nosuchdataset", "-q", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "note: --quiet is deprecated; use --no-progress" in result.output


def test_catalog_positional_snapshot_still_works_with_a_note(small_snapshot: Path) -> None:
    new = runner.invoke(
        app, ["catalog", "search", "--catalog", str(small_snapshot), "usb", "charger", "--json"]
    )
    old = runner.invoke(app, ["catalog", "search", str(small_snapshot), "usb charger", "--json"])
    assert new.exit_code == old.exit_code == 0, old.output
    note = "note: catalog search SNAPSHOT is deprecated; use catalog search --catalog SNAPSHOT"
    assert note in old.output and note not in new.output
    assert old.output.replace(note, "").strip() == new.output.strip()
    twice = "give the snapshot once, as --catalog DIR"
    for command, extra, error in (
        ("stats", [], twice),
        ("verify", [], twice),
        ("show", ["bestbuy:nope"], "expected one PRODUCT_ID, got 2"),
    ):
        both = runner.invoke(
            app, ["catalog", command, str(small_snapshot), *extra, "--catalog", str(small_snapshot)]
        )
        assert both.exit_code == 2 and error in both.output, both.output
    missing = runner.invoke(app, ["catalog", "stats"])
    assert missing.exit_code == 2 and "--catalog DIR is required" in missing.output


def test_catalog_show_and_stats_json(small_snapshot: Path) -> None:
    import json

    stats = json.loads(
        runner.invoke(app, ["catalog", "stats", "--catalog", str(small_snapshot), "--json"]).stdout
    )
    assert stats["n_products"] > 10_000 and stats["size_bytes"] > 0 and stats["path"] == str(small_snapshot)
    assert {s["source"] for s in stats["sources"]} >= {"bestbuy", "webmall"}
    page = json.loads(
        runner.invoke(app, ["catalog", "search", "--catalog", str(small_snapshot), "tv", "--json"]).stdout
    )
    first = page["hits"][0]["product_id"]
    record = json.loads(
        runner.invoke(app, ["catalog", "show", first, "--catalog", str(small_snapshot), "--json"]).stdout
    )
    assert record["product_id"] == first
    table = runner.invoke(
        app, ["catalog", "show", first, "--catalog", str(small_snapshot)], env={"COLUMNS": "200"}
    )
    assert table.exit_code == 0 and first in table.output and record["title"][:30] in table.output
