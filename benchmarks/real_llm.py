"""The env beside a real model: where an episode's wall time goes (issue 18, item 6).

Runs research-agent episodes against a real OpenAI-compatible server (``bash .ci/real-llm`` starts
llama-cpp-python with Gemma 3 270M) and splits each episode's wall time into time waiting for the model (the sum
of the client's call latencies) and time in prgym (env steps with their supervisor and recorder, the policy's
request building and reply parsing: the rest of the episode). The project's claim is that the env is invisible
beside the LLM: ``env_share_of_episode`` (target < 0.01). Token rates are the server's reported tokens over the
time spent waiting for it.

    python benchmarks/real_llm.py --base-url http://127.0.0.1:8765/v1 --model gemma3-270m [--quick]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog_loader.build import build_snapshot  # noqa: E402
from catalog_loader.presets import preset  # noqa: E402
from harness.llm import LLMClient, LLMConfig  # noqa: E402
from harness.policies.openai_agent import ResearchAgentPolicy  # noqa: E402
from harness.rollout.episode import run_episode  # noqa: E402
from harness.rollout.prgym import recording  # noqa: E402
from sandbox.env import ProductResearchEnv, shared_backend  # noqa: E402
from sandbox.tasks.generator import generate_tasks  # noqa: E402
from sandbox.tasks.taskset import TaskSet  # noqa: E402

PRESETS = ("bestbuy", "webmall")


def snapshot(data: Path, work: Path) -> Path:
    specs = [spec for name in PRESETS for spec in preset(name, data)]
    return build_snapshot(specs, work / "catalog").snapshot_dir


async def episodes(
    base_url: str, model: str, catalog: Path, n: int, max_steps: int, work: Path
) -> list[dict]:
    tasks = TaskSet(list(generate_tasks(shared_backend(catalog), n, seed=5)))
    config = LLMConfig(
        base_url=base_url, model=model, compat="llamacpp", max_tokens=64, temperature=0, max_retries=1,
        timeout_s=300, max_concurrency=1,
    )  # fmt: skip
    rows = []
    async with LLMClient(config) as client:
        for task in tasks:
            policy = ResearchAgentPolicy(client.session())
            make_env = recording(
                lambda: ProductResearchEnv(catalog, tasks=tasks, max_steps=max_steps),
                work / "traces.jsonl",
                policy={"teacher": f"openai:{model}"},
                usage_provider=policy.usage.snapshot,
            )
            started = time.perf_counter()
            status = "completed"
            try:
                outcome = await run_episode(make_env, policy, task.task_id, 0)
                steps = outcome.steps
            except Exception as exc:  # noqa: BLE001 - a failed episode is still timed
                status, steps = f"failed: {type(exc).__name__}", len(policy.results)
            wall = time.perf_counter() - started
            llm = sum(r.latency_s for r in policy.results)
            tokens = policy.usage.tokens
            rows.append(
                {
                    "task": task.task_id,
                    "status": status,
                    "steps": steps,
                    "calls": len(policy.results),
                    "wall_s": wall,
                    "llm_s": llm,
                    "env_s": max(0.0, wall - llm),
                    "prompt_tokens": tokens.prompt_tokens,
                    "completion_tokens": tokens.completion_tokens,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 episodes of 1 step.")
    args = parser.parse_args()
    n, steps = (2, 1) if args.quick else (args.episodes, args.max_steps)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        catalog = snapshot(args.data, work)
        rows = asyncio.run(episodes(args.base_url, args.model, catalog, n, steps, work))
    print(
        f"{'task':<14}{'status':<12}{'steps':>6}{'calls':>6}{'wall s':>9}{'llm s':>9}{'env s':>9}{'env %':>8}"
    )
    for r in rows:
        share = r["env_s"] / r["wall_s"] if r["wall_s"] else 0.0
        print(
            f"{r['task'][:13]:<14}{r['status'][:11]:<12}{r['steps']:>6}{r['calls']:>6}{r['wall_s']:>9.2f}"
            f"{r['llm_s']:>9.2f}{r['env_s']:>9.3f}{share * 100:>7.2f}%"
        )
    wall = sum(r["wall_s"] for r in rows)
    llm = sum(r["llm_s"] for r in rows)
    env = sum(r["env_s"] for r in rows)
    calls = sum(r["calls"] for r in rows) or 1
    figures = {
        "episodes": len(rows),
        "env_share_of_episode": env / wall if wall else None,
        "llm_s_per_episode": llm / len(rows),
        "env_s_per_episode": env / len(rows),
        "llm_s_per_call": llm / calls,
        "prompt_tokens_per_s": sum(r["prompt_tokens"] for r in rows) / llm if llm else None,
        "completion_tokens_per_s": sum(r["completion_tokens"] for r in rows) / llm if llm else None,
        "model": args.model,
        "baseline": "the same episodes' time waiting for the model (llm_s) is the baseline the env time is "
        "compared with",
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
