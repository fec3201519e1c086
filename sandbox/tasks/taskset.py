"""Task sets: JSONL files of tasks with train / eval / test splits, and seeded sampling.

One task per line (``task.model_dump_json()``); each task carries its ``split``. Splits are assigned by hashing
``seed:task_id``, so a task keeps its split when tasks are added, removed or reordered, and the same seed always
gives the same partition. Sampling takes a ``numpy.random.Generator`` (the env passes its own ``np_random``),
so which task an episode gets is part of the seeded episode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from sandbox.errors import UserError
from sandbox.tasks.models import SPLITS, ResearchTask, ShoppingTask, Split, parse_task

AnyTask = ResearchTask | ShoppingTask


class TaskSetFormatError(UserError, ValueError):
    """A task-set line that is not a valid task."""


class TaskFileNotFoundError(UserError, FileNotFoundError):
    """``--tasks`` names a file that does not exist."""


def split_of(task_id: str, seed: int, fractions: Sequence[float]) -> Split:
    """The split of ``task_id``: a stable hash of ``seed:task_id`` mapped onto the cumulative ``fractions``."""
    digest = hashlib.sha256(f"{seed}:{task_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for split, fraction in zip(SPLITS, fractions, strict=True):
        cumulative += fraction
        if point < cumulative:
            return split
    return SPLITS[len(fractions) - 1]


class TaskSet:
    """An ordered collection of tasks with unique ids."""

    def __init__(self, tasks: Iterable[AnyTask]) -> None:
        self.tasks: list[AnyTask] = list(tasks)
        self._by_id: dict[str, AnyTask] = {}
        for task in self.tasks:
            if task.task_id in self._by_id:
                raise TaskSetFormatError(f"task id {task.task_id!r} appears twice in the task set")
            self._by_id[task.task_id] = task

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[AnyTask]:
        return iter(self.tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._by_id

    def get(self, task_id: str) -> AnyTask:
        try:
            return self._by_id[task_id]
        except KeyError:
            raise KeyError(f"no task {task_id!r} in this task set ({len(self)} tasks)") from None

    def ids(self) -> list[str]:
        return [t.task_id for t in self.tasks]

    def split(self, name: Split | None) -> TaskSet:
        """The tasks of one split (``None``: all tasks)."""
        if name is None:
            return self
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return TaskSet(t for t in self.tasks if t.split == name)

    def with_splits(self, seed: int = 0, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> TaskSet:
        """A copy with every task's ``split`` assigned by :func:`split_of` (fractions for train, eval, test)."""
        if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
            raise ValueError(
                f"fractions must be three non-negative numbers summing to 1, got {list(fractions)}"
            )
        return TaskSet(
            t.model_copy(update={"split": split_of(t.task_id, seed, fractions)}) for t in self.tasks
        )

    def sample(self, rng: np.random.Generator) -> AnyTask:
        """One task drawn uniformly with ``rng``."""
        if not self.tasks:
            raise ValueError("cannot sample from an empty task set")
        return self.tasks[int(rng.integers(len(self.tasks)))]

    # -- files ---------------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            for task in self.tasks:
                handle.write(task.model_dump_json(exclude_defaults=False) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TaskSet:
        """Read a JSONL task set; a bad line raises :class:`TaskSetFormatError` with its number and field.

        Each line is parsed as JSON on its own first, so a syntax error names the file's line and the column in
        it (pydantic's JSON error would count lines inside the one line, "line 2 column 0" for a cut-off row).
        """
        path = Path(path)
        tasks: list[AnyTask] = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise TaskSetFormatError(
                        f"{path}:{number}: not valid JSON at column {exc.colno}: {exc.msg}",
                        hint="each line must be one task object (as written by `prgym tasks generate`)",
                    ) from None
                if not isinstance(row, dict):
                    raise TaskSetFormatError(
                        f"{path}:{number}: expected a task object, got {type(row).__name__}"
                    )
                try:
                    tasks.append(parse_task(text))  # validated as JSON, as it was written
                except ValidationError as exc:
                    first = exc.errors(include_url=False)[0]
                    loc = ".".join(str(p) for p in first["loc"]) or "(line)"
                    raise TaskSetFormatError(f"{path}:{number}: field {loc!r}: {first['msg']}") from None
        return cls(tasks)


def load_tasks(source: str | Path) -> TaskSet:
    """A task set from a task-set JSONL file, a ShoppingBench file, or a directory of ShoppingBench files."""
    from sandbox.tasks.shoppingbench import load_shoppingbench, load_shoppingbench_dir

    path = Path(source)
    if path.is_dir():
        return TaskSet(load_shoppingbench_dir(path))
    if not path.is_file():
        raise TaskFileNotFoundError(f"task file not found: {path}")
    if path.name.startswith("synthesize_"):
        return TaskSet(load_shoppingbench(path))
    return TaskSet.load(path)
