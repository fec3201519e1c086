"""A rollout run with slow, deterministic episodes, for the crash/resume test (run as a script).

    python crash_runner.py OUT_DIR --tasks 30 --trials 2 --concurrency 4 --sleep 0.05 --log run1.log

Each episode sleeps, appends its key to ``--log`` when it starts (so the test knows what was executed), and
scores ``trial / 10``. The test SIGKILLs this process mid-run and runs it again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from harness.rollout import EpisodeOutcome, RolloutJob, make_jobs, run_rollouts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    log_fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def episode(job: RolloutJob) -> EpisodeOutcome:
        os.write(log_fd, (job.episode_key + "\n").encode())
        await asyncio.sleep(args.sleep)
        return EpisodeOutcome(reward=job.trial / 10, steps=1)

    jobs = make_jobs([f"task-{i:03d}" for i in range(args.tasks)], ["slow"], args.trials)
    summary = asyncio.run(run_rollouts(jobs, episode, args.out, concurrency=args.concurrency, progress=False))
    print(f"ran={summary.ran} skipped={summary.skipped_finished} missing={summary.missing}", flush=True)


if __name__ == "__main__":
    main()
