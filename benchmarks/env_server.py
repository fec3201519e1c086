"""Env server benchmark: episodes over ``prgym serve`` (64 concurrent WebSocket sessions) vs the same episodes
run in-process, in one run, on the real small catalog (Best Buy, WebMall, ShoppingBench, Amazon.in).

Every episode is the same fixed action script (no LLM, no policy logic on the client): reset on a generated
task, a plan, two filtered ``product_search`` calls over real shopping queries (WANDS), ``visit_product`` on
two hits, a ``calculate``, then a ``submit_report`` (supervisor check and reward). Each is bounded: a fixed
number of episodes, spread over the sessions.

- **in-process**: one ``ProductResearchEnv`` per episode in this process, steps run back to back;
- **server**: one ``prgym serve`` process (1 uvicorn worker; the catalog opened once) and 64 concurrent
  ``prgym.client.RemoteEnv`` sessions in this process, each running its share of the episodes; step latency is
  the client-side round trip (serialisation, WebSocket, queueing behind the other 63 sessions, the step).

    python benchmarks/env_server.py                  # 64 sessions, 512 episodes
    python benchmarks/env_server.py --quick          # under a minute
    python benchmarks/env_server.py --snapshot DIR   # reuse (or build once into) DIR

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog_loader.build import build_snapshot  # noqa: E402
from catalog_loader.presets import preset  # noqa: E402
from prgym.client import RemoteEnv  # noqa: E402
from sandbox.catalog.search import SearchRequest  # noqa: E402
from sandbox.env import ProductResearchEnv, shared_backend  # noqa: E402
from sandbox.tasks.generator import generate_tasks  # noqa: E402

console = Console(width=120)
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
SMALL_PRESETS = ("bestbuy", "webmall", "shoppingbench", "amazon_in")
PLAN = (
    "Plan: search the catalog with filters for the category and the budget, compare at least three products, "
    "check each requirement against the records and recommend the best one."
)


def ensure_snapshot(data: Path, snapshot: Path | None, work: Path) -> Path:
    if snapshot is not None and (snapshot / "manifest.json").is_file():
        return snapshot
    target = snapshot or work / "small"
    specs = [s for name in SMALL_PRESETS for s in preset(name, data)]
    console.print(f"building the small catalog ({', '.join(SMALL_PRESETS)}) into {target}")
    return build_snapshot(specs, target).snapshot_dir


def real_queries(data: Path) -> list[str]:
    with (data / "queries" / "wands_queries.csv").open(encoding="utf-8") as f:
        queries = [row["query"] for row in csv.DictReader(f, delimiter="\t")]
    random.Random(0).shuffle(queries)
    return queries


def episode_script(i: int, queries: list[str], product_ids: list[str]) -> list[dict[str, Any]]:
    """The fixed actions of episode ``i`` (assistant messages, as a policy would send them)."""

    def calls(*pairs: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"c{i}_{n}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for n, (name, args) in enumerate(pairs)
            ],
        }

    q1, q2 = queries[(2 * i) % len(queries)], queries[(2 * i + 1) % len(queries)]
    ids = [product_ids[(2 * i) % len(product_ids)], product_ids[(2 * i + 1) % len(product_ids)]]
    cited = " ".join(f"[P:{pid}]" for pid in ids)
    return [
        {"role": "assistant", "content": PLAN},
        calls(("product_search", {"query": q1, "filters": {"price_max": 500}})),
        calls(("product_search", {"query": q2, "sort": "rating"})),
        calls(("visit_product", {"product_ids": ids})),
        calls(("calculate", {"expression": "499.99 - 129.5"})),
        calls(("submit_report", {"report": f"# Report\n\nI compared {cited}. Both fit the request.\n"})),
    ]


def run_inprocess(snapshot: Path, tasks: list[Any], scripts: list[list[dict[str, Any]]]) -> dict[str, Any]:
    times: list[float] = []
    started = time.perf_counter()
    for i, script in enumerate(scripts):
        env = ProductResearchEnv(snapshot, tasks=tasks, max_steps=len(script) + 1)
        env.reset(seed=i, options={"task_id": tasks[i % len(tasks)].task_id})
        for action in script:
            t0 = time.perf_counter()
            env.step(action)
            times.append(time.perf_counter() - t0)
        env.close()
    return {"wall_s": time.perf_counter() - started, "times": times}


async def run_server(
    url: str, sessions: int, tasks: list[Any], scripts: list[list[dict[str, Any]]]
) -> dict[str, Any]:
    times: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(scripts)):
        queue.put_nowait(i)

    async def session() -> None:
        env = RemoteEnv(url, info_messages=False)
        try:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await env.areset(seed=i, options={"task": tasks[i % len(tasks)].model_dump(mode="json")})
                for action in scripts[i]:
                    t0 = time.perf_counter()
                    await env.astep(action)
                    times.append(time.perf_counter() - t0)
        finally:
            await env.aclose()

    started = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(sessions)))
    return {"wall_s": time.perf_counter() - started, "times": times}


def start_server(snapshot: Path, sessions: int, work: Path) -> tuple[subprocess.Popen, str, Path]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = work / "server.log"
    args = [sys.executable, "-m", "harness.cli", "serve", "--catalog", str(snapshot), "--port", str(port)]
    args += ["--insecure-no-auth", "--max-sessions", str(sessions), "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.Popen(args, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"prgym serve exited:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("prgym serve did not start")


def pct(times: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(times) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--snapshot", type=Path, default=None)
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=512)
    parser.add_argument("--quick", action="store_true", help="128 episodes (under a minute)")
    args = parser.parse_args()
    episodes = 128 if args.quick else args.episodes
    with tempfile.TemporaryDirectory(prefix="prgym-bench-server-") as tmp:
        work = Path(tmp)
        snapshot = ensure_snapshot(args.data, args.snapshot, work)
        backend = shared_backend(snapshot)
        tasks = generate_tasks(backend, 16, seed=11)
        product_ids = [
            h.product_id
            for q in ("laptop", "headphones", "shoes", "phone", "chair", "watch")
            for h in backend.search(SearchRequest(query=q, page_size=10)).hits
        ]
        queries = real_queries(args.data)
        scripts = [episode_script(i, queries, product_ids) for i in range(episodes)]
        warm = scripts[: min(16, episodes)]
        run_inprocess(snapshot, tasks, warm)
        inproc = run_inprocess(snapshot, tasks, scripts)
        proc, url, _ = start_server(snapshot, args.sessions, work)
        try:
            asyncio.run(run_server(url, min(args.sessions, 16), tasks, warm))
            served = asyncio.run(run_server(url, args.sessions, tasks, scripts))
            health = httpx.get(url + "/healthz", timeout=5).json()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    steps = len(inproc["times"])
    inproc_rate = steps / inproc["wall_s"]
    server_rate = len(served["times"]) / served["wall_s"]
    table = Table(
        title=f"{episodes} episodes x {len(scripts[0])} steps, small catalog (2 shared cores, loaded machine)"
    )
    for column in ("path", "steps/s", "step p50 ms", "step p99 ms", "wall s"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row(
        "in-process (1 env at a time)",
        f"{inproc_rate:.0f}",
        f"{pct(inproc['times'], 50):.2f}",
        f"{pct(inproc['times'], 99):.2f}",
        f"{inproc['wall_s']:.1f}",
    )
    table.add_row(
        f"prgym serve, {args.sessions} WebSocket sessions",
        f"{server_rate:.0f}",
        f"{pct(served['times'], 50):.2f}",
        f"{pct(served['times'], 99):.2f}",
        f"{served['wall_s']:.1f}",
    )
    console.print(table)
    console.print(
        f"server health after the run: {health['episodes']} episodes ended, {health['steps']} steps"
    )
    figures = {
        "server_steps_per_s": round(server_rate, 1),
        "inprocess_steps_per_s": round(inproc_rate, 1),
        "server_vs_inprocess": round(server_rate / inproc_rate, 3),
        "server_step_p50_ms": round(pct(served["times"], 50), 2),
        "server_step_p99_ms": round(pct(served["times"], 99), 2),
        "inprocess_step_p50_ms": round(pct(inproc["times"], 50), 2),
        "inprocess_step_p99_ms": round(pct(inproc["times"], 99), 2),
        "sessions": args.sessions,
        "episodes": episodes,
        "steps": len(served["times"]),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
