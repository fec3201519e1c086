"""Loading ShoppingBench task files (``synthesize_{product,shop,voucher,web_simpleqa}_test.jsonl``).

One task per line: ``query``; ``reward`` (one target item, or a list of them for multi-item tasks) with the
target ``product_id``, ``title`` and the sampled constraints ``sku_options`` / ``attributes`` / ``price`` /
``service``; ``voucher`` for voucher tasks; ``Knowledge_Attribute`` for web tasks, whose ``reward`` is the full
target record (its ``title`` is a string rather than a list). Shop tasks require one shop for all items.
A malformed line raises :class:`ShoppingBenchFormatError` naming the file, the line and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sandbox.errors import UserError
from sandbox.tasks.models import PriceRange, ShoppingTarget, ShoppingTask, ShoppingTaskType, Voucher

_FILE_TYPES: dict[str, ShoppingTaskType] = {
    "product": "product",
    "shop": "shop",
    "voucher": "voucher",
    "web": "web",
    "web_simpleqa": "web",
}


class ShoppingBenchFormatError(UserError, ValueError):
    """A ShoppingBench line that does not have the published format."""


def task_type_of(path: Path) -> ShoppingTaskType:
    """``synthesize_voucher_test.jsonl`` -> ``voucher``; ``synthesize_web_simpleqa_test.jsonl`` -> ``web``."""
    match = re.match(r"synthesize_(.+?)_(?:test|train|dev)\.jsonl$", path.name)
    key = match.group(1) if match else path.stem
    if key not in _FILE_TYPES:
        raise ShoppingBenchFormatError(
            f"{path}: cannot tell the task type from the file name; expected synthesize_<type>_test.jsonl with "
            f"type one of {', '.join(_FILE_TYPES)} (or pass task_type=...)"
        )
    return _FILE_TYPES[key]


def _as_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{field} must be a list, got {type(value).__name__}")
    return value


def parse_target(raw: Any) -> ShoppingTarget:
    """One ``reward`` item (sampled constraints, or a web task's full record) as a :class:`ShoppingTarget`."""
    if not isinstance(raw, dict):
        raise ValueError(f"a reward item must be an object, got {type(raw).__name__}")
    if "product_id" not in raw:
        raise ValueError("reward item has no product_id")
    title = raw.get("title")
    if isinstance(title, str):
        # a full record: its options/attributes describe the product, they were not sampled as constraints
        return ShoppingTarget(product_id=str(raw["product_id"]), titles=[title], record=dict(raw))
    return ShoppingTarget(
        product_id=str(raw["product_id"]),
        titles=[str(t) for t in _as_list(title, "title")],
        sku_options=_as_list(raw.get("sku_options"), "sku_options"),
        attributes=_as_list(raw.get("attributes"), "attributes"),
        price=[PriceRange.from_shoppingbench(p) for p in _as_list(raw.get("price"), "price")],
        service=[str(s) for s in _as_list(raw.get("service"), "service")],
    )


def parse_task_line(obj: Any, task_type: ShoppingTaskType, task_id: str) -> ShoppingTask:
    if not isinstance(obj, dict):
        raise ValueError(f"a task line must be a JSON object, got {type(obj).__name__}")
    if "query" not in obj or "reward" not in obj:
        raise ValueError("a task needs 'query' and 'reward'")
    reward = obj["reward"]
    items = [parse_target(r) for r in (reward if isinstance(reward, list) else [reward])]
    voucher = Voucher.model_validate(obj["voucher"]) if obj.get("voucher") else None
    knowledge = obj.get("Knowledge_Attribute")
    return ShoppingTask(
        task_id=task_id,
        query=str(obj["query"]),
        task_type=task_type,
        items=items,
        voucher=voucher,
        same_shop=task_type == "shop",
        knowledge_attribute=str(knowledge) if knowledge is not None else None,
        scoring="shoppingbench",
        meta={"source": "shoppingbench"},
    )


def iter_shoppingbench(path: str | Path, task_type: ShoppingTaskType | None = None) -> Iterator[ShoppingTask]:
    """Stream the tasks of one ShoppingBench file; ids are ``sb-<type>-<line number>``."""
    path = Path(path)
    kind = task_type or task_type_of(path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                yield parse_task_line(obj, kind, f"sb-{kind}-{number:04d}")
            except json.JSONDecodeError as exc:
                raise ShoppingBenchFormatError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise ShoppingBenchFormatError(f"{path}:{number}: field {loc!r}: {first['msg']}") from None
            except ValueError as exc:
                raise ShoppingBenchFormatError(f"{path}:{number}: {exc}") from None


def load_shoppingbench(path: str | Path, task_type: ShoppingTaskType | None = None) -> list[ShoppingTask]:
    """All tasks of one ShoppingBench file (see :func:`iter_shoppingbench`)."""
    return list(iter_shoppingbench(path, task_type))


def load_shoppingbench_dir(directory: str | Path) -> list[ShoppingTask]:
    """Every ``synthesize_*.jsonl`` file of a directory, in file-name order."""
    directory = Path(directory)
    files = sorted(directory.glob("synthesize_*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no synthesize_*.jsonl ShoppingBench files in {directory}")
    return [task for path in files for task in iter_shoppingbench(path)]
