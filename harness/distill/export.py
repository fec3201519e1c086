"""Kept samples to a dataset folder that chat templates render and ``datasets`` loads back unchanged.

What :func:`export_sample` changes, and why:

* **Tool-call arguments** become JSON objects (``arguments="object"``, the default): Qwen 2.5/3, gpt-oss, GLM-4,
  Llama 3.1 and most other templates print ``arguments | tojson`` or iterate ``arguments.items()``, so a JSON
  *string* there is encoded twice or raises. ``arguments="string"`` keeps canonical JSON text (DeepSeek-V3's
  template concatenates the arguments as a string). Either way ``null`` optional arguments are dropped, to match
  the simplified schemas.
* **Tool schemas** are simplified (:mod:`harness.distill.schema`): no ``$ref`` / ``$defs``, no ``anyOf [X, null]``.
* ``split_parallel_calls=True`` turns an assistant turn with N calls into N turns of one call, each followed by
  its result (the first keeps the text and the reasoning), for templates that allow one call per message
  (Llama 3.1 raises, gpt-oss renders only the first).
* **meta** gets the task's ``split``; floats are rounded to 6 decimals (rewards are sums of weighted terms, and
  ``0.9999999999999999`` does not survive the JSON reader of ``datasets``, which goes through pandas' ujson);
  within one file every row gets the same meta keys (absent ones ``null``), so ``datasets`` infers one typed
  struct for ``meta`` instead of an opaque JSON column.

:func:`write_dataset` writes ``<split>.jsonl`` (or ``.parquet``) per task split, rows sorted by episode id (two
runs give byte-identical files), and a dataset card ``README.md`` whose YAML header lists the split files, so
``datasets.load_dataset(folder)`` finds them. Parquet stores ``messages`` and ``tools`` as lists of Arrow JSON
values (``datasets``' ``Json`` feature), since their structs differ from row to row.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from harness.distill.internalize import TrainingSample
from harness.distill.schema import drop_null_arguments, simplify_tools
from sandbox.errors import UserError

ArgumentsMode = Literal["object", "string"]
DataFormat = Literal["jsonl", "parquet"]
#: Where a sample goes when its task carries no split.
DEFAULT_SPLIT = "train"
SPLIT_ORDER = ("train", "eval", "test")
FLOAT_DECIMALS = 6


class ExportOptions(BaseModel):
    """How samples are written for a chat template (see the module docstring)."""

    arguments: ArgumentsMode = "object"
    split_parallel_calls: bool = False


class ExportError(UserError):
    """A sample that cannot be exported as asked (names the episode and the call)."""


def _parameters_by_tool(tools: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for tool in tools:
        function = tool.get("function") or {}
        if isinstance(function.get("name"), str) and isinstance(function.get("parameters"), dict):
            out[function["name"]] = function["parameters"]
    return out


def _arguments(
    call: Mapping[str, Any], schema: dict[str, Any] | None, mode: ArgumentsMode, where: str
) -> Any:
    function = call.get("function") or {}
    raw = function.get("arguments")
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise ExportError(f"{where}: arguments are not JSON ({exc}): {raw[:80]!r}") from None
    else:
        value = copy.deepcopy(raw) if raw is not None else {}
    if not isinstance(value, dict):
        raise ExportError(f"{where}: arguments must be a JSON object, got {type(value).__name__}")
    value = drop_null_arguments(value, schema)
    return value if mode == "object" else json.dumps(value, ensure_ascii=False)


def _convert_calls(
    message: dict[str, Any], schemas: Mapping[str, dict[str, Any]], options: ExportOptions, episode: str
) -> dict[str, Any]:
    out = dict(message)
    calls = []
    for call in message.get("tool_calls") or []:
        function = dict(call.get("function") or {})
        name = str(function.get("name"))
        where = f"episode {episode!r}, call {call.get('id')!r} ({name})"
        function["arguments"] = _arguments(call, schemas.get(name), options.arguments, where)
        calls.append({**call, "function": function})
    out["tool_calls"] = calls
    return out


def _split_parallel(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One call per assistant turn, each followed by its own result (results matched by ``tool_call_id``)."""
    out: list[dict[str, Any]] = []
    index = 0
    while index < len(messages):
        message = messages[index]
        calls = message.get("tool_calls") or []
        if message.get("role") != "assistant" or len(calls) < 2:
            out.append(message)
            index += 1
            continue
        results: list[dict[str, Any]] = []
        index += 1
        while index < len(messages) and messages[index].get("role") == "tool":
            results.append(messages[index])
            index += 1
        by_id = {r.get("tool_call_id"): r for r in results}
        for position, call in enumerate(calls):
            turn = {"role": "assistant", "content": message.get("content") if position == 0 else ""}
            if position == 0 and message.get("reasoning_content"):
                turn["reasoning_content"] = message["reasoning_content"]
            turn["tool_calls"] = [call]
            out.append(turn)
            if call.get("id") in by_id:
                out.append(by_id.pop(call.get("id")))
        out.extend(r for r in results if r.get("tool_call_id") in by_id)  # unmatched results stay last
    return out


def _round_floats(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, FLOAT_DECIMALS)
    if isinstance(value, dict):
        return {k: _round_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round_floats(v) for v in value]
    return value


def split_of(sample: TrainingSample | Mapping[str, Any]) -> str:
    """The task split the sample belongs to (:data:`DEFAULT_SPLIT` when its task has none)."""
    meta = sample.meta if isinstance(sample, TrainingSample) else sample.get("meta") or {}
    return str(meta.get("split") or DEFAULT_SPLIT)


def export_sample(sample: TrainingSample | Mapping[str, Any], options: ExportOptions | None = None) -> dict:
    """One row ``{"messages", "tools", "meta"}`` ready for a chat template (see the module docstring)."""
    options = options or ExportOptions()
    data = sample.model_dump() if isinstance(sample, TrainingSample) else copy.deepcopy(dict(sample))
    tools = simplify_tools(list(data.get("tools") or []))
    schemas = _parameters_by_tool(tools)
    episode = str((data.get("meta") or {}).get("episode_id", "?"))
    messages = [
        _convert_calls(m, schemas, options, episode) if m.get("tool_calls") else dict(m)
        for m in data.get("messages") or []
    ]
    if options.split_parallel_calls:
        messages = _split_parallel(messages)
    meta = _round_floats(dict(data.get("meta") or {}))
    meta["split"] = split_of(data)
    meta["export"] = {"arguments": options.arguments, "split_parallel_calls": options.split_parallel_calls}
    return {"messages": messages, "tools": tools, "meta": meta}


def _uniform_meta(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row's ``meta`` with the same keys in the same order (missing ones ``None``), nested dicts too."""

    def keys_of(values: list[Any]) -> dict[str, Any]:
        merged: dict[str, list[Any]] = {}
        for value in values:
            for key, item in value.items():
                merged.setdefault(key, []).append(item)
        return {
            key: keys_of([v for v in items if isinstance(v, dict)])
            if items and all(isinstance(v, dict) or v is None for v in items) and any(items)
            else None
            for key, items in merged.items()
        }

    def fill(value: Any, shape: dict[str, Any]) -> dict[str, Any]:
        value = value if isinstance(value, dict) else {}
        return {
            key: (
                fill(value.get(key), sub)
                if sub is not None and value.get(key) is not None
                else value.get(key)
            )
            for key, sub in shape.items()
        }

    shape = keys_of([r["meta"] for r in rows])
    return [{**r, "meta": fill(r["meta"], shape)} for r in rows]


def _pandas_ujson() -> tuple[Any, Any] | None:
    try:
        from pandas.io.json import ujson_dumps, ujson_loads
    except ImportError:  # pandas < 2.2 or not installed (it comes with datasets)
        return None
    return ujson_loads, ujson_dumps


def misread_numbers(row: Mapping[str, Any]) -> int | None:
    """How many floats in ``messages`` / ``tools`` ``datasets`` would load back different from the file.

    ``datasets`` reads columns whose structs differ from row to row as JSON values through pandas' ``ujson``,
    whose fast decimal parser is not correctly rounded (``0.3`` becomes ``0.30000000000000004``); the JSON
    loader also re-encodes every value with 10 significant decimals first. The file itself is exact; this
    counts the numbers (in practice: tool-call arguments a model wrote) that the loaders would shift, so the
    export can say so. ``None`` when pandas' ``ujson`` is not importable (then nothing is known).
    """
    codec = _pandas_ujson()
    if codec is None:
        return None
    loads, dumps = codec

    def shifted(value: float) -> bool:
        text = json.dumps(value)
        via_json = loads(dumps(loads(text)))
        return via_json != value or loads(text) != value

    def count(value: Any) -> int:
        if isinstance(value, float):
            return int(shifted(value))
        if isinstance(value, dict):
            return sum(count(v) for v in value.values())
        if isinstance(value, list):
            return sum(count(v) for v in value)
        return 0

    return count(row.get("messages")) + count(row.get("tools"))


def sort_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """Rows in a file go by episode id (then teacher and task id, for runs that reuse episode ids)."""
    meta = row.get("meta") or {}
    return (str(meta.get("episode_id", "")), str(meta.get("teacher", "")), str(meta.get("task_id", "")))


def write_rows(rows: Sequence[dict[str, Any]], path: Path, data_format: DataFormat) -> None:
    """``rows`` as JSON lines or as Parquet (``messages`` / ``tools`` as lists of JSON values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if data_format == "jsonl":
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with the parquet extra
        raise UserError("--format parquet needs pyarrow", hint="pip install 'prgym[parquet]'") from None

    def json_list(values: list[list[Any]]) -> Any:
        flat = pa.array([json.dumps(v, ensure_ascii=False) for items in values for v in items], pa.string())
        offsets = [0]
        for items in values:
            offsets.append(offsets[-1] + len(items))
        return pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()), pa.ExtensionArray.from_storage(pa.json_(), flat)
        )

    table = pa.table(
        {
            "messages": json_list([r["messages"] for r in rows]),
            "tools": json_list([r["tools"] for r in rows]),
            "meta": pa.array([r["meta"] for r in rows]),
        }
    )
    pq.write_table(table, path)


class CardInfo(BaseModel):
    """What the dataset card says about where the data came from."""

    runs: list[str] = Field(default_factory=list)
    trajectories: int = 0
    filters: dict[str, Any] = Field(default_factory=dict)
    dropped: dict[str, int] = Field(default_factory=dict)
    command: str | None = None


class ExportReport(BaseModel):
    """The files written and the rows per split."""

    folder: str
    files: dict[str, str]
    counts: dict[str, int]
    snapshots: list[str]
    teachers: dict[str, int]
    misread_numbers: int | None = Field(
        default=None,
        description="Floats in messages/tools that datasets' loaders read back shifted (None: unknown).",
    )


def _ordered_splits(names: set[str]) -> list[str]:
    return [s for s in SPLIT_ORDER if s in names] + sorted(names - set(SPLIT_ORDER))


def dataset_card(
    report: ExportReport, options: ExportOptions, data_format: DataFormat, info: CardInfo | None = None
) -> str:
    """The ``README.md`` beside the data: a YAML header naming the split files, then provenance and counts.

    Nothing in it depends on the time or the machine, so two runs of the same command write the same card.
    """
    info = info or CardInfo()
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split, name in report.files.items():
        lines += [f"  - split: {split}", f"    path: {name}"]
    lines += ["tags:", "- prgym", "- sft", "- tool-calling", "---", "", "# prgym distilled SFT samples", ""]
    lines += [
        "Single-role tool-calling trajectories distilled by `prgym distill` from recorded prgym episodes: "
        "supervisor turns and rejected attempts removed, critiques internalized as the agent's own "
        "reflection in `reasoning_content`. Columns: `messages` (OpenAI chat format with `tool_calls`), "
        "`tools` (OpenAI function specs), `meta` (provenance and reward).",
        "",
        "## Counts",
        "",
        "| split | file | samples |",
        "| --- | --- | ---: |",
    ]
    lines += [f"| {split} | `{name}` | {report.counts[split]} |" for split, name in report.files.items()]
    lines += [f"| total | | {sum(report.counts.values())} |", ""]
    if report.teachers:
        lines += ["Samples per teacher: " + ", ".join(f"`{t}` {n}" for t, n in report.teachers.items()), ""]
    lines += ["## Source", ""]
    if info.command:
        lines += ["```", info.command, "```", ""]
    if info.runs:
        lines.append("- runs: " + ", ".join(f"`{r}`" for r in info.runs))
    lines.append(f"- trajectories read: {info.trajectories}")
    lines.append("- catalog snapshot(s): " + (", ".join(f"`{s}`" for s in report.snapshots) or "unknown"))
    if info.filters:
        lines.append("- filters: " + ", ".join(f"`{k}={v}`" for k, v in info.filters.items()))
    if info.dropped:
        lines.append("- dropped: " + ", ".join(f"{k} {v}" for k, v in info.dropped.items()))
    lines += [
        f"- format: `{data_format}`; tool-call arguments as JSON {options.arguments}s; "
        + (
            "one tool call per assistant turn" if options.split_parallel_calls else "parallel tool calls kept"
        ),
        "- tool schemas: `$ref`/`$defs` inlined, `anyOf [X, null]` reduced to X (optional = not required)",
        "- rows sorted by `meta.episode_id`; floats in `meta` rounded to 6 decimals",
    ]
    if report.misread_numbers:
        lines.append(
            f"- {report.misread_numbers} number(s) in tool-call arguments are read back one unit in the last "
            "place off by `datasets` (pandas' ujson parses e.g. `0.3` as `0.30000000000000004`); the files "
            "hold the exact values"
        )
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'ds = load_dataset("path/to/this/folder")  # or the hub repo id',
        'text = tokenizer.apply_chat_template(ds["train"][0]["messages"], tools=ds["train"][0]["tools"],'
        " tokenize=False)",
        "```",
        "",
    ]
    return "\n".join(lines)


def write_dataset(
    samples: Sequence[TrainingSample | Mapping[str, Any]],
    folder: str | Path,
    *,
    data_format: DataFormat = "jsonl",
    options: ExportOptions | None = None,
    card: CardInfo | None = None,
) -> ExportReport:
    """``<split>.<format>`` per task split plus ``README.md`` in ``folder`` (created; other files untouched).

    A split file of an earlier export that this one does not produce (no sample in that split now) is
    removed, so the folder never mixes two exports.
    """
    options = options or ExportOptions()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = sorted((export_sample(s, options) for s in samples), key=sort_key)
    by_split: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_split.setdefault(row["meta"]["split"], []).append(row)
    files: dict[str, str] = {}
    counts: dict[str, int] = {}
    for split in _ordered_splits(set(by_split)):
        name = f"{split}.{data_format}"
        write_rows(_uniform_meta(by_split[split]), folder / name, data_format)
        files[split], counts[split] = name, len(by_split[split])
    for stale in SPLIT_ORDER:
        for ext in ("jsonl", "parquet"):
            path = folder / f"{stale}.{ext}"
            if path.name not in files.values() and path.exists():
                path.unlink()
    teachers = Counter(str(r["meta"].get("teacher")) for r in rows)
    counted = [misread_numbers(r) for r in rows]
    report = ExportReport(
        folder=str(folder),
        files=files,
        counts=counts,
        snapshots=sorted(
            {str(r["meta"]["catalog_snapshot"]) for r in rows if r["meta"].get("catalog_snapshot")}
        ),
        teachers=dict(sorted(teachers.items())),
        misread_numbers=None if None in counted else sum(c or 0 for c in counted),
    )
    (folder / "README.md").write_text(dataset_card(report, options, data_format, card), encoding="utf-8")
    return report


def write_file(
    samples: Sequence[TrainingSample | Mapping[str, Any]],
    path: str | Path,
    *,
    data_format: DataFormat = "jsonl",
    options: ExportOptions | None = None,
) -> int:
    """Every sample in one file (all splits; ``meta.split`` says which), same rows and order as
    :func:`write_dataset`. Returns the number of rows."""
    rows = sorted((export_sample(s, options) for s in samples), key=sort_key)
    write_rows(_uniform_meta(rows), Path(path), data_format)
    return len(rows)


def is_local_target(repo: str) -> bool:
    """``--push-to-hub`` targets that are folders on this machine rather than hub repo ids."""
    return repo.startswith(("file://", "/", "./", "../", "~"))


def push_dataset(report: ExportReport, repo: str, *, private: bool = False) -> str:
    """Publish the folder :func:`write_dataset` wrote: its split files and card, as they are.

    ``repo`` is a hub dataset repo id (``owner/name``: created if missing, then the folder is uploaded in one
    commit with ``huggingface_hub``; needs a token with write access) or a local folder (``file://``, ``/``,
    ``./``, ``../`` or ``~``), which gets the same files, e.g. to check what would be uploaded or to serve a
    mirror. Returns where the data went.
    """
    folder = Path(report.folder)
    names = [*report.files.values(), "README.md"]
    if is_local_target(repo):
        target = Path(repo.removeprefix("file://")).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(folder / name, target / name)
        return str(target)
    try:
        from huggingface_hub import HfApi
    except ImportError:  # pragma: no cover - comes with datasets
        raise UserError("--push-to-hub needs huggingface_hub", hint="pip install huggingface_hub") from None
    api = HfApi()
    api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(
        repo_id=repo,
        repo_type="dataset",
        folder_path=str(folder),
        allow_patterns=names,
        commit_message="prgym distill: " + ", ".join(f"{s} {n}" for s, n in report.counts.items()),
    )
    return f"https://huggingface.co/datasets/{repo}"
