"""``prgym eval`` (score a policy on a suite or task file), ``prgym eval compare`` and ``prgym bench build``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from catalog_loader.datahome import DATA_DIR_ENV
from harness.eval.policies import OraclePolicy, RandomPolicy
from harness.eval.runner import FIELD_ORDER, IntentSummary, evaluate, summarize
from harness.eval.suites import SuiteManifest, load_suite, read_manifest, sha256_file
from harness.flags import concurrency_option, max_steps_option
from harness.llm.spec import model_of
from sandbox.errors import UserError
from sandbox.progress import ProgressBar

console = Console()
err = Console(stderr=True)
eval_app = typer.Typer(help="Score a policy on a shopping suite or task file.", invoke_without_command=True)
bench_app = typer.Typer(help="Frozen benchmark suites.", no_args_is_help=True)

POLICIES = "oracle, random, scripted or openai:MODEL"


def make_policy_maker(spec: str, llm_config: Path | None, llm_set: list[str]):
    """``(task, seed) -> policy`` for a ``--policy`` spec; the second value is a client to close (or None)."""
    if spec == "oracle":
        return (lambda task, seed: OraclePolicy(task)), None
    if spec == "random":
        return (lambda task, seed: RandomPolicy(task, seed)), None
    if spec == "scripted":
        from harness.policies.scripted import ScriptedPolicy

        return (lambda task, seed: ScriptedPolicy()), None
    try:
        model = model_of(spec, flag="--policy", alternatives=("oracle", "random", "scripted"))
    except ValueError as exc:
        raise UserError(str(exc), hint=f"use {POLICIES}") from None
    if model is not None:
        from harness.llm.client import LLMClient
        from harness.llm.config import load_llm_config
        from harness.policies.openai_agent import ResearchAgentPolicy

        config = load_llm_config("agent", file=llm_config, overrides=[*llm_set, f"model={model}"])
        client = LLMClient(config)
        return (lambda task, seed: ResearchAgentPolicy(client.session())), client
    raise AssertionError(f"unhandled policy {spec!r}")


def _resolve_tasks(tasks: Path | None, suite: Path | None) -> tuple[Path, SuiteManifest | None]:
    if (tasks is None) == (suite is None):
        raise UserError(
            "give exactly one of --tasks FILE or --suite DIR (a directory from `prgym bench build`)"
        )
    path = tasks if tasks is not None else suite / "tasks.jsonl"  # type: ignore[operator]
    if not path.is_file():
        raise UserError(f"{path}: no such task file")
    manifest = read_manifest(path)
    if manifest is not None and sha256_file(path) != manifest.checksum:
        raise UserError(
            f"{path}: checksum differs from its suite.json", hint="rebuild it with `prgym bench build`"
        )
    return path, manifest


def print_table(table: Table) -> None:
    """Print ``table`` at its natural width even when that is wider than the terminal (or the 80 columns rich
    assumes when output is piped): squeezed to fit, every figure became ``0.…``."""
    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    (console if needed <= console.width else Console(width=needed)).print(table)


def summary_table(summary: dict[str, IntentSummary], title: str) -> Table:
    table = Table(title=title)
    present = [f for f in FIELD_ORDER if any(f in s.fields for s in summary.values())]
    names = [
        "intent",
        "tasks",
        "ASR",
        "CAR",
        "pass^k",
        *present,
        "product",
        "steps",
        "tool calls",
        "tokens",
    ]
    for name in names:
        table.add_column(name, justify="left" if name == "intent" else "right")
    for intent, s in summary.items():
        fields = [f"{s.fields[f]:.3f}" if f in s.fields else "-" for f in present]
        table.add_row(
            intent, str(s.tasks), f"{s.asr:.3f}", f"{s.car:.3f}", f"{s.pass_k:.3f}", *fields,
            f"{s.product:.3f}", f"{s.steps:.1f}", f"{s.tool_calls:.1f}", f"{s.tokens:.0f}",
        )  # fmt: skip
    return table


def research_table(s: IntentSummary, title: str) -> Table:
    """The research figures, one per row (the table stays readable in a narrow terminal)."""
    table = Table(title=f"{title}: research reports")
    table.add_column("metric")
    table.add_column("value", justify="right")

    def num(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    rows = [
        ("tasks / episodes", f"{s.tasks} / {s.episodes}"),
        ("reward", num(s.reward)),
        ("accepted by the supervisor", num(s.accepted)),
        ("EPC (cited products that exist)", num(s.epc, 2)),
        ("EPC ok (meeting every constraint)", num(s.epc_ok, 2)),
        ("grounding accuracy", num(s.grounding)),
        ("constraint satisfaction", num(s.constraints)),
        ("rubric score (offline)", num(s.rubric)),
        (f"RACE vs reference ({s.judged} judged)", num(s.race)),
        ("steps / tool calls / tokens", f"{s.steps:.1f} / {s.tool_calls:.1f} / {s.tokens:.0f}"),
        ("errors", str(s.errors)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _judge_model(judge: str | None, reference: Path | None, research: list) -> str | None:

    if judge is None:
        if reference is not None:
            raise UserError("--reference is only used with --judge openai:MODEL")
        return None
    try:
        model = model_of(judge, flag="--judge")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not research:
        raise UserError("--judge scores research reports; the task file has no research tasks")
    if reference is None:
        raise UserError(
            "--judge needs --reference RUN: the run whose reports are the reference",
            hint="make one with `prgym eval --suite ... --policy scripted --out RUN`",
        )
    return model


def _reference_reports(reference: Path) -> dict[str, str]:
    from harness.eval.research import pick_reference_reports

    path = reference / "eval.json" if reference.is_dir() else reference
    if not path.is_file():
        raise UserError(f"--reference {reference}: no eval.json", hint="pass a `prgym eval --out` directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        episodes = data["episodes"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"--reference {path}: not an eval.json with episodes ({exc})") from None
    reports = pick_reference_reports(episodes)
    if not reports:
        raise UserError(f"--reference {path}: no episode has a report to compare against")
    return reports


def _judge(scores, research, references, model, llm_config, judge_set, cache_path, progress) -> None:
    """RACE-score every research episode's report against the reference report of its task (in place)."""
    from harness.eval.research import judge_reports
    from harness.judge import JudgeCache, RaceJudge
    from harness.llm.client import LLMClient
    from harness.llm.config import load_llm_config

    by_id = {t.task_id: t for t in research}
    pairs, owners = [], []
    for score in scores:
        if score.task_id not in by_id:
            continue
        if not score.report:
            score.judge_error = "no_report"
        elif score.task_id not in references:
            score.judge_error = "no_reference"
        else:
            pairs.append((by_id[score.task_id], score.report, references[score.task_id]))
            owners.append(score)
    config = load_llm_config("judge", file=llm_config, overrides=[*judge_set, f"model={model}"])
    store = JudgeCache(cache_path)
    bar = ProgressBar(
        TextColumn("[bold]judge"), BarColumn(), MofNCompleteColumn(), console=err, disable=not progress
    )

    async def run():
        async with LLMClient(config) as client:
            handle = bar.add_task("judge", total=len(pairs))
            return await judge_reports(RaceJudge(client, store), pairs, on_pair=lambda: bar.advance(handle))

    try:
        with bar:
            results = asyncio.run(run())
    finally:
        store.close()
    for score, (relative, failure) in zip(owners, results, strict=True):
        score.race, score.judge_error = relative, failure


@eval_app.callback()
def eval_cmd(
    ctx: typer.Context,
    catalog: Path = typer.Option(None, "--catalog", help="Catalog snapshot directory."),
    tasks: Path = typer.Option(
        None, "--tasks", "-t", help="Task file (synthesized, a task set or ShoppingBench)."
    ),
    suite: Path = typer.Option(None, "--suite", help="A built suite directory (tasks.jsonl + suite.json)."),
    policy: str = typer.Option("scripted", "--policy", "-p", help=f"Policy: {POLICIES}."),
    trials: int = typer.Option(1, "--trials", "-k", min=1, help="Trials per task (pass^k uses k = trials)."),
    seed: int = typer.Option(0, "--seed"),
    concurrency: int = concurrency_option("Episodes in flight at once."),
    max_steps: int = max_steps_option(),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N tasks."),
    out: Path = typer.Option(None, "--out", "-o", help="Run directory for eval.json (default: print only)."),
    llm_config: Path = typer.Option(None, "--llm-config"),
    llm_set: list[str] = typer.Option(None, "--llm-set"),
    judge: str = typer.Option(
        None, "--judge", help="openai:MODEL: RACE-score research reports against --reference."
    ),
    reference: Path = typer.Option(
        None, "--reference", "-r", help="Reference run (a `prgym eval --out` directory or its eval.json)."
    ),
    judge_set: list[str] = typer.Option(
        None, "--judge-set", help="Judge LLM setting key=value (repeatable)."
    ),
    judge_cache: Path = typer.Option(
        None, "--judge-cache", help="SQLite cache of judge calls (default: OUT/judge_cache.sqlite)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print eval.json instead of the table."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Run POLICY on every task x trial and print ASR, CAR, pass^k, per-field scores, steps, tools, tokens."""
    if ctx.invoked_subcommand is not None:
        return
    from sandbox.tasks.models import ResearchTask
    from sandbox.tasks.taskset import TaskSet, load_tasks

    if catalog is None or not (catalog / "manifest.json").is_file():
        raise UserError(f"--catalog {catalog}: not a snapshot directory (no manifest.json)")
    path, manifest = _resolve_tasks(tasks, suite)
    taskset = load_tasks(path)
    if limit:
        taskset = TaskSet(list(taskset)[:limit])
    research = [t for t in taskset if isinstance(t, ResearchTask)]
    if research and policy in ("oracle", "random"):
        raise UserError(
            f"--policy {policy}: the oracle and random reference policies answer shopping tasks only",
            hint="score research suites with --policy scripted or openai:MODEL",
        )
    judge_model = _judge_model(judge, reference, research)
    references = _reference_reports(reference) if judge_model else {}
    maker, client = make_policy_maker(policy, llm_config, list(llm_set or []))
    bar = ProgressBar(
        TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, disable=not progress,
    )  # fmt: skip
    try:
        with bar:
            handle = bar.add_task("eval", total=len(taskset) * trials)
            scores = asyncio.run(
                evaluate(
                    catalog,
                    taskset,
                    maker,
                    trials=trials,
                    seed=seed,
                    concurrency=concurrency,
                    max_steps=max_steps,
                    on_episode=lambda _: bar.advance(handle),
                )  # fmt: skip
            )
    finally:
        if client is not None:
            asyncio.run(client.aclose())
    from sandbox.env import shared_backend

    if judge_model:
        cache_path = judge_cache or ((out or Path(".")) / "judge_cache.sqlite")
        _judge(
            scores, research, references, judge_model, llm_config, list(judge_set or []), cache_path, progress
        )
    summary = summarize(scores, trials)
    result: dict[str, Any] = {
        "policy": policy,
        "tasks": str(path),
        "suite": manifest.name if manifest else None,
        "suite_version": manifest.version if manifest else None,
        "snapshot_id": shared_backend(catalog).snapshot_id,
        "trials": trials,
        "seed": seed,
        "judge": {"model": judge_model, "reference": str(reference)} if judge_model else None,
        "summary": {k: v.model_dump() for k, v in summary.items()},
        "episodes": [s.model_dump() for s in scores],
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if as_json:
        console.print_json(json.dumps({k: v for k, v in result.items() if k != "episodes"}))
        return
    name = f"{manifest.name} v{manifest.version}" if manifest else path.name
    title = f"{policy} on {name} (snapshot {result['snapshot_id'][:12]}, k={trials})"
    shopping = {k: v for k, v in summary.items() if k != "research" and (k != "all" or not research)}
    if len(research) < len(taskset):
        print_table(summary_table(shopping, title))
    if research:
        print_table(research_table(summary["research"], title))
    if out is not None:
        console.print(f"wrote {out / 'eval.json'}")


RESEARCH_COLUMNS = (
    ("reward", "reward", 3),
    ("accepted", "accepted", 3),
    ("EPC", "epc", 2),
    ("EPC ok", "epc_ok", 2),
    ("grounding", "grounding", 3),
    ("constraints", "constraints", 3),
    ("rubric", "rubric", 3),
    ("RACE", "race", 3),
)
"""Research leaderboard columns: (header, summary key, digits)."""


def _load_run(run: Path) -> dict[str, Any]:
    path = run / "eval.json" if run.is_dir() else run
    if not path.is_file():
        raise UserError(f"{run}: no eval.json", hint="pass directories written by `prgym eval --out DIR`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        summary = data["summary"]
        if not isinstance(summary, dict) or not summary:
            raise TypeError("summary is empty")
        missing = [key for key in ("policy", "snapshot_id", "trials") if key not in data]
        if missing:
            raise KeyError(missing[0])
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{path}: not an eval.json written by `prgym eval` ({type(exc).__name__}: {exc})"
        ) from None
    return data


def _run_cells(r: dict[str, Any]) -> list[str]:
    suite = f"{r['suite']} v{r['suite_version']}" if r.get("suite") else Path(str(r.get("tasks"))).name
    return [str(r["policy"]), suite, str(r["snapshot_id"])[:12], str(r["trials"])]


def _shopping_all(summary: dict[str, Any]) -> dict[str, float]:
    """ASR, CAR and steps over a run's shopping episodes (``all`` minus research episodes in a mixed file)."""
    if "research" not in summary:
        return summary["all"]
    parts = [v for k, v in summary.items() if k not in ("all", "research")]
    n = sum(v["episodes"] for v in parts)
    return {key: sum(v[key] * v["episodes"] for v in parts) / n for key in ("asr", "car", "steps")}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(row) + " |" for row in rows
    ]


def shopping_board(runs: list[dict[str, Any]]) -> list[str]:
    """One row per run with shopping tasks: ASR per intent, then over all its shopping tasks; best first."""
    intents = sorted({i for r in runs for i in r["summary"] if i not in ("all", "research")})
    header = (
        ["policy", "suite", "snapshot", "k"] + [f"{i} ASR" for i in intents] + ["all ASR", "CAR", "steps"]
    )
    rows = []
    for r in sorted(runs, key=lambda r: -_shopping_all(r["summary"])["asr"]):
        every = _shopping_all(r["summary"])
        cells = _run_cells(r) + [
            f"{r['summary'][i]['asr']:.3f}" if i in r["summary"] else "-" for i in intents
        ]
        rows.append(cells + [f"{every['asr']:.3f}", f"{every['car']:.3f}", f"{every['steps']:.1f}"])
    return _table(header, rows)


def research_board(runs: list[dict[str, Any]]) -> list[str]:
    """One row per run with research tasks: the report figures; best RACE first, then rubric, then reward.

    RACE is relative to the run's judge reference, so the reference is a column: compare RACE only between
    rows that name the same one."""
    header = ["policy", "suite", "snapshot", "k", "tasks"] + [c[0] for c in RESEARCH_COLUMNS]
    header += ["judged", "reference", "steps"]

    def rank(r: dict[str, Any]) -> tuple[float, float, float]:
        s = r["summary"]["research"]
        race = s.get("race")
        return (-(race if race is not None else -1.0), -(s.get("rubric") or 0.0), -(s.get("reward") or 0.0))

    rows = []
    for r in sorted(runs, key=rank):
        s = r["summary"]["research"]
        cells = _run_cells(r) + [str(s["tasks"])]
        cells += [
            "-" if s.get(key) is None else f"{s[key]:.{digits}f}" for _, key, digits in RESEARCH_COLUMNS
        ]
        judge = r.get("judge") or {}
        reference = Path(judge["reference"]).name if judge.get("reference") else "-"
        rows.append(cells + [str(s.get("judged", 0)), reference, f"{s['steps']:.1f}"])
    return _table(header, rows)


@eval_app.command("compare")
def compare(runs: list[Path] = typer.Argument(..., help="Run directories (or eval.json files).")) -> None:
    """Markdown leaderboards across runs: shopping runs by ASR per intent, research runs by their report
    figures (EPC, grounding, constraints, rubric, RACE)."""
    loaded = [_load_run(run) for run in runs]
    shopping = [r for r in loaded if any(i not in ("all", "research") for i in r["summary"])]
    research = [r for r in loaded if "research" in r["summary"]]
    blocks = []
    if shopping:
        blocks.append((["**Shopping tasks**", ""] if research else []) + shopping_board(shopping))
    if research:
        blocks.append((["**Research reports**", ""] if shopping else []) + research_board(research))
    print("\n\n".join("\n".join(block) for block in blocks))


def _write_research_suite(backend, config, tasks_path: Path, progress: bool) -> dict[str, int]:
    """User-agent report tasks (template writer, seeded per task) for a research suite."""
    from sandbox.tasks.generator import generate_tasks
    from sandbox.tasks.taskset import TaskSet

    n = config.counts["research"]
    bar = ProgressBar(
        TextColumn("[bold]research tasks"), BarColumn(), MofNCompleteColumn(), console=err,
        disable=not progress,
    )  # fmt: skip
    with bar:
        handle = bar.add_task("tasks", total=n)
        tasks = generate_tasks(
            backend, n, config.seed, min_products=config.min_products, on_task=lambda _: bar.advance(handle)
        )
    TaskSet(tasks).save(tasks_path)
    return {"research": len(tasks)}


@bench_app.command("build")
def build(
    name: str = typer.Argument(..., help="Suite name (e.g. shop-v2)."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for catalog/, tasks.jsonl and suite.json."),
    data_dir: Path = typer.Option(
        None,
        "--data-dir",
        help="Folder with the sample datasets (default: $PRGYM_DATA_DIR, else ../shared/data).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Build a frozen suite: the catalog from its presets, the tasks from its seed, checked against its checksum."""
    from catalog_loader.build import build_snapshot
    from catalog_loader.presets import preset
    from harness.cli.synthesize import write_suite
    from sandbox.catalog.lexical import TantivyBackend
    from sandbox.tasks.synthesis import SynthesisConfig

    config = load_suite(name)
    # --data-dir, then PRGYM_DATA_DIR, then ../shared/data; a missing folder is named by where it came from.
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    data = data_dir or (Path(env).expanduser() if env else Path("..") / "shared" / "data")
    if not data.is_dir():
        named = "--data-dir" if data_dir else (DATA_DIR_ENV if env else "the default data folder")
        raise UserError(f"{named} {data}: no such directory", hint="point it at the shared data folder")
    catalog = out / "catalog"
    if catalog.exists():
        shutil.rmtree(catalog)
    specs = [spec for p in config.presets for spec in preset(p, data)]
    snapshot = build_snapshot(specs, catalog, show_progress=progress).snapshot_dir
    backend = TantivyBackend(snapshot)
    tasks_path = out / "tasks.jsonl"
    if config.kind == "research":
        counts = _write_research_suite(backend, config, tasks_path, progress)
    else:
        synth = SynthesisConfig(counts=config.counts, seed=config.seed, max_satisfying=config.max_satisfying)  # type: ignore[arg-type]
        counts = write_suite(backend, synth, tasks_path, None, progress).accepted
    checksum = sha256_file(tasks_path)
    manifest = SuiteManifest(
        name=config.name, version=config.version, kind=config.kind, snapshot_id=backend.snapshot_id,
        checksum=checksum, n_tasks=sum(counts.values()), counts=counts,
    )  # fmt: skip
    (out / "suite.json").write_text(manifest.model_dump_json(indent=1) + "\n", encoding="utf-8")
    if config.checksum is not None and checksum != config.checksum:
        raise UserError(
            f"suite {name} v{config.version}: tasks.jsonl checksum {checksum[:16]} differs from the frozen "
            f"{config.checksum[:16]}",
            hint="the data or the synthesis code changed; bump the suite version to freeze a new one",
        )
    state = "matches the frozen checksum" if config.checksum else "not frozen yet (config has no checksum)"
    console.print(
        f"built {name} v{config.version}: {manifest.n_tasks} tasks, snapshot {backend.snapshot_id}, "
        f"sha256 {checksum} ({state})",
        soft_wrap=True,
    )
