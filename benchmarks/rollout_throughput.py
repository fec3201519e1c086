"""Rollout throughput: episodes/s through the whole harness against an LLM endpoint with 100 ms latency.

Each episode is real end to end: the runner schedules it, :func:`run_episode` drives the tool-echo Gymnasium env,
:class:`OpenAIChatPolicy` asks the scripted OpenAI-compatible server (its own process, as a real LLM server
would be) through :class:`LLMClient` and the ``openai`` package, and the record is appended and fsync-ed. Every
episode makes the same number of LLM calls (``--tool-turns`` tool calls + 1 final answer), each delayed by the
server's added latency, so the ideal (latency-bound) rate at concurrency ``c`` is
``c / (calls_per_episode * latency)``; the measured rate is compared with it.

Baseline measured in the same run: the same episodes at concurrency 64 written the way one would without the
harness (``chat.completions.create`` on a default ``AsyncOpenAI`` client, ``asyncio.gather`` with a semaphore, no
env, no records), to show what the client layer's choices are worth.

    python benchmarks/rollout_throughput.py            # full run
    python benchmarks/rollout_throughput.py --quick    # under a minute

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.llm import LLMClient, LLMConfig
from harness.rollout import OpenAIChatPolicy, make_jobs, run_episode, run_rollouts
from harness.testing.echo_env import ECHO_TOOLS, EchoToolEnv

console = Console()
if not console.is_terminal:  # logs and CI: wide enough that the table does not wrap
    console = Console(width=130)


class ServerProcess:
    """The scripted server in a child process (so it does not share the benchmark's GIL)."""

    def __init__(self, latency_ms: float, tool_turns: int) -> None:
        self.args = [
            sys.executable,
            "-m",
            "harness.testing.openai_server",
            "--latency-ms",
            str(latency_ms),
            "--tool-turns",
            str(tool_turns),
            "--exit-on-stdin-eof",
        ]

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise RuntimeError("scripted server did not start")
        return json.loads(line)["base_url"]

    def __exit__(self, *exc: object) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def harness_rate(base_url: str, concurrency: int, episodes: int, calls: int, work: Path) -> dict:
    """Episodes/s through run_rollouts at ``concurrency``; also checks every episode made ``calls`` calls."""
    config = LLMConfig(base_url=base_url, model="bench", max_concurrency=max(64, concurrency), timeout_s=30)
    client = LLMClient(config)

    async def episode(job):
        return await run_episode(EchoToolEnv, OpenAIChatPolicy(client.session()), job.task_id, job.seed())

    jobs = make_jobs([f"task-{i}" for i in range(episodes)], ["bench"], 1)
    out = work / f"c{concurrency}"
    t0 = time.perf_counter()
    summary = await run_rollouts(jobs, episode, out, concurrency=concurrency, progress=False)
    wall = time.perf_counter() - t0
    await client.aclose()
    if summary.completed != episodes or client.usage.calls != episodes * calls:
        raise RuntimeError(
            f"c={concurrency}: {summary.completed}/{episodes} completed, {client.usage.calls} calls "
            f"(expected {episodes * calls}); failures: {summary.failures_by_reason}"
        )
    return {"episodes": episodes, "wall_s": wall, "episodes_per_s": episodes / wall}


async def sdk_baseline_rate(base_url: str, concurrency: int, episodes: int, calls: int) -> dict:
    """The same conversations through ``chat.completions.create`` (typed path, default transport)."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY")
    gate = asyncio.Semaphore(concurrency)

    async def episode(i: int) -> None:
        async with gate:
            messages: list[dict] = [{"role": "user", "content": f"task {i}: echo, then answer"}]
            for _ in range(calls):
                reply = await client.chat.completions.create(
                    model="bench", messages=messages, tools=ECHO_TOOLS
                )
                message = reply.choices[0].message
                messages.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls or []:
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": "echo"})

    t0 = time.perf_counter()
    await asyncio.gather(*(episode(i) for i in range(episodes)))
    wall = time.perf_counter() - t0
    await client.close()
    return {"episodes": episodes, "wall_s": wall, "episodes_per_s": episodes / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description="Rollout throughput benchmark (see the module docstring).")
    parser.add_argument("--quick", action="store_true", help="A smaller run (under a minute).")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument(
        "--tool-turns", type=int, default=3, help="Tool-call turns per episode (+1 final call)."
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="Episodes per concurrency slot (default 10, quick 4)."
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="Runs per concurrency level; the median is reported."
    )
    args = parser.parse_args()
    rounds = args.rounds or (4 if args.quick else 10)
    calls = args.tool_turns + 1
    latency = args.latency_ms / 1000
    levels = (1, 16, 64)
    rows: dict[int, dict] = {}
    with ServerProcess(args.latency_ms, args.tool_turns) as base_url, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(harness_rate(base_url, 4, 8, calls, Path(tmp) / "warmup"))
        for c in levels:
            runs = [
                asyncio.run(harness_rate(base_url, c, c * rounds, calls, Path(tmp) / f"r{r}"))
                for r in range(args.repeats)
            ]
            rates = [run["episodes_per_s"] for run in runs]
            rows[c] = {
                "episodes": runs[0]["episodes"],
                "runs": rates,
                "episodes_per_s": statistics.median(rates),
                "ideal": c / (calls * latency),
            }
            console.print(f"concurrency {c}: " + ", ".join(f"{x:.2f}" for x in rates) + " episodes/s")
        baseline = asyncio.run(sdk_baseline_rate(base_url, 64, 64 * rounds, calls))

    table = Table(
        title=f"rollout throughput ({calls} LLM calls/episode, {args.latency_ms:.0f} ms latency per call, "
        f"median of {args.repeats} runs)"
    )
    for column in (
        "setup",
        "concurrency",
        "episodes",
        "episodes/s",
        "runs",
        "ideal episodes/s",
        "efficiency",
    ):
        table.add_column(column, justify="left" if column == "setup" else "right")
    for c in levels:
        r = rows[c]
        table.add_row(
            "prgym runner",
            str(c),
            str(r["episodes"]),
            f"{r['episodes_per_s']:.2f}",
            " / ".join(f"{x:.1f}" for x in r["runs"]),
            f"{r['ideal']:.2f}",
            f"{r['episodes_per_s'] / r['ideal']:.1%}",
        )
    ideal64 = rows[64]["ideal"]
    table.add_row(
        "baseline: SDK create + gather",
        "64",
        str(baseline["episodes"]),
        f"{baseline['episodes_per_s']:.2f}",
        "1 run",
        f"{ideal64:.2f}",
        f"{baseline['episodes_per_s'] / ideal64:.1%}",
    )
    console.print(table)
    figures = {
        "quick": args.quick,
        "latency_ms": args.latency_ms,
        "calls_per_episode": calls,
        "repeats": args.repeats,
        "episodes_per_s_c1": rows[1]["episodes_per_s"],
        "episodes_per_s_c16": rows[16]["episodes_per_s"],
        "episodes_per_s_c64": rows[64]["episodes_per_s"],
        "ideal_episodes_per_s_c1": rows[1]["ideal"],
        "ideal_episodes_per_s_c16": rows[16]["ideal"],
        "ideal_episodes_per_s_c64": ideal64,
        "efficiency_c1": rows[1]["episodes_per_s"] / rows[1]["ideal"],
        "efficiency_c16": rows[16]["episodes_per_s"] / rows[16]["ideal"],
        "efficiency_c64": rows[64]["episodes_per_s"] / ideal64,
        "episodes_per_s_c64_runs": [round(x, 2) for x in rows[64]["runs"]],
        "baseline_sdk_episodes_per_s_c64": baseline["episodes_per_s"],
        "baseline_sdk_efficiency_c64": baseline["episodes_per_s"] / ideal64,
        "load_avg_1m": os.getloadavg()[0],
    }
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
