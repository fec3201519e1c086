"""verl's dataset for the ``prgym_agent`` loop: one parquet row per task (no verl import needed to write it).

verl's ``RLHFDataset`` reads ``prompt`` (the chat), ``agent_name`` (which registered agent loop runs the row),
``data_source`` and ``extra_info``; the ``prgym_agent`` loop reads ``extra_info.task_id`` and
``extra_info.seed`` and resets the env on that task. The prompt is the env's own opening chat (system prompt
and request), so what verl tokenizes for the dataset's length filter is what the loop sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sandbox.env import ProductResearchEnv
from sandbox.tasks.models import ResearchTask, ShoppingTask

AGENT_NAME = "prgym_agent"


def verl_rows(
    tasks: Iterable[ResearchTask | ShoppingTask], snapshot: str | Path, *, seed: int = 0, split: str = "train"
) -> list[dict[str, Any]]:
    """The dataset rows for ``tasks`` (one per task; seeds ``seed + i``)."""
    tasks = list(tasks)
    env = ProductResearchEnv(snapshot, tasks=tasks)
    rows = []
    try:
        for i, task in enumerate(tasks):
            _, info = env.reset(seed=seed + i, options={"task_id": task.task_id})
            rows.append(
                {
                    "data_source": "prgym",
                    "agent_name": AGENT_NAME,
                    "prompt": [{"role": m["role"], "content": m["content"]} for m in info["messages"]],
                    "ability": task.kind,
                    "reward_model": {"style": "env", "ground_truth": ""},
                    "extra_info": {"task_id": task.task_id, "seed": seed + i, "split": split, "index": i},
                }
            )
    finally:
        env.close()
    return rows


def write_verl_dataset(
    tasks: Iterable[ResearchTask | ShoppingTask],
    snapshot: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    split: str = "train",
) -> Path:
    """Write the rows as a parquet file verl's ``data.train_files`` / ``data.val_files`` can read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(verl_rows(tasks, snapshot, seed=seed, split=split)), out)
    return out
