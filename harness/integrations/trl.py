"""TRL integration: prgym episodes as a ``GRPOTrainer(environment_factory=...)`` environment.

TRL 1.16's ``GRPOTrainer`` makes one environment object per rollout from ``environment_factory`` (called with no
arguments, instances pooled and reused), calls ``reset(**row)`` with the dataset row before generating, turns
every public method of the environment's class into a tool (schema from ``transformers.utils.get_json_schema``:
type hints and a Google-style docstring), calls those methods with the parsed tool-call arguments as keywords,
and, when the class defines ``get_reward()``, adds it as a reward source (weight 1, logged under the class name)
after the ``reward_funcs``. It never hands the environment the assistant's text.

prgym's tools cannot be handed over as they are: ``get_json_schema`` rejects pydantic parameters such as
``product_search(filters: SearchFilters)``, and an env method per tool would have to be kept in step with the
registry by hand. :func:`make_trl_environment` therefore generates the class from the env's own tool registry:

* one method per registry tool, whose signature and docstring are written from the registry's JSON schema, with
  ``$ref`` / ``anyOf [X, null]`` resolved, enums as ``Literal`` and the fields of an object parameter (the search
  filters) lifted to top-level keyword parameters (``price_max``, ``brands``, ...), so the schema TRL renders
  cannot drift from what the env validates. The method nests the lifted fields again, passes the call to
  :meth:`~sandbox.env.per_call.PerCallAPI.call_tool` and returns the observation text; it accepts any keywords,
  so a call with a wrong or unknown argument reaches the env and is answered (and scored) as a bad call rather
  than failing inside TRL. A nested object sent as such (``filters={...}``, the shape of distilled SFT data) is
  passed through too;
* ``reset(**row)`` resets the env on the row's ``task_id`` and ``seed`` (rows from :func:`grpo_dataset`);
* ``get_reward()`` is the env's terminal reward; an episode the model abandoned (it stopped calling tools
  before a final answer was accepted) is scored with ``env.finish(truncated=True)``.

The default ``plan_mode`` is ``"tool"``: the plan is a ``submit_plan(plan)`` tool the supervisor checks, so the
Plan phase survives a driver that sends only tool calls, and research calls are not answered with a plan critique
each (in ``"turn"`` mode every call of a text-less driver would be). :func:`reward_component_funcs` gives one
reward function per reward component, for logging them separately (with weight 0, see there).
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from sandbox.env import EpisodeScore, ProductResearchEnv
from sandbox.rewards.reward import DEFAULT_RESEARCH_WEIGHTS, DEFAULT_SHOPPING_WEIGHTS, RewardConfig

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "DEFAULT_ENV_KWARGS",
    "PrgymEnvironment",
    "ToolParameter",
    "grpo_dataset",
    "make_trl_environment",
    "reward_component_funcs",
    "sft_dataset",
    "tool_parameters",
]

DEFAULT_ENV_KWARGS: dict[str, Any] = {"plan_mode": "tool", "info_messages": False}
"""What :func:`make_trl_environment` and :func:`grpo_dataset` pass to the env unless ``env_kwargs`` says
otherwise: the plan as a tool, and no copy of the whole chat in every step's info (TRL never reads it)."""

_JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
_RETURNS = "The tool's result as JSON text, followed by any supervisor or environment note."


@dataclass(frozen=True)
class ToolParameter:
    """One keyword parameter of a generated tool method.

    ``path`` is where the value goes in the tool's arguments: ``("query",)`` for a top-level argument,
    ``("filters", "price_max")`` for a field lifted out of an object parameter.
    """

    name: str
    path: tuple[str, ...]
    annotation: Any
    required: bool
    description: str


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with a ``$ref`` replaced by its definition and ``anyOf [X, null]`` by ``X`` (keys of ``node``
    such as the description and default are kept)."""
    out = dict(node)
    ref = out.pop("$ref", None)
    if ref is not None:
        name = str(ref).rsplit("/", 1)[-1]
        if name not in defs:
            raise ValueError(f"schema reference {ref!r} has no definition")
        out = {**_resolve(defs[name], defs), **out}
    options = out.get("anyOf")
    if options is not None:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            out.pop("anyOf")
            out = {**_resolve(kept[0], defs), **out}
        else:
            out["anyOf"] = [_resolve(o, defs) for o in kept]
    return out


def _annotation(node: Mapping[str, Any], defs: Mapping[str, Any], where: str) -> Any:
    """The Python type hint ``get_json_schema`` turns back into ``node``'s JSON type."""
    node = _resolve(node, defs)
    if "enum" in node:
        return Literal[tuple(node["enum"])]  # type: ignore[misc]
    if "anyOf" in node:
        hints = tuple(_annotation(o, defs, where) for o in node["anyOf"])
        return Union[hints]  # noqa: UP007 -- a runtime-built union of several hints
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != 1:
            raise ValueError(f"{where}: a parameter of several JSON types ({kind}) has no plain type hint")
        kind = kinds[0]
    if kind in _JSON_TYPES:
        return _JSON_TYPES[kind]
    if kind == "array":
        items = node.get("items")
        return list[_annotation(items, defs, where)] if items else list  # type: ignore[misc]
    if kind == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping):
            return dict[str, _annotation(extra, defs, where)]  # type: ignore[misc]
        return dict
    raise ValueError(f"{where}: no plain type hint for the JSON schema {dict(node)}")


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def tool_parameters(schema: Mapping[str, Any]) -> list[ToolParameter]:
    """The keyword parameters of the method generated for one OpenAI tool schema (a registry schema).

    Object parameters with named fields (pydantic models such as ``SearchFilters``) are lifted: each field
    becomes a parameter of its own, named after the field, or ``<parameter>_<field>`` if that name is taken.
    Everything else keeps its name. Raises ``ValueError`` for a schema no plain type hints can express.
    """
    function = schema.get("function", schema)
    tool = function.get("name", "?")
    parameters = function.get("parameters") or {}
    defs = parameters.get("$defs") or {}
    required = set(parameters.get("required") or [])
    properties = parameters.get("properties") or {}
    out: list[ToolParameter] = []
    lifted: list[tuple[str, str, dict[str, Any], bool]] = []
    for name, raw in properties.items():
        node = _resolve(raw, defs)
        fields = node.get("properties")
        if node.get("type") == "object" and isinstance(fields, Mapping) and fields:
            inner_required = set(node.get("required") or []) if name in required else set()
            for field, sub in fields.items():
                lifted.append((name, field, sub, field in inner_required))
            continue
        out.append(
            ToolParameter(
                name=name,
                path=(name,),
                annotation=_annotation(node, defs, f"{tool}.{name}"),
                required=name in required,
                description=_one_line(node.get("description")) or f"The {name} argument.",
            )
        )
    taken = {p.name for p in out}
    for parent, field, sub, is_required in lifted:
        name = field if field not in taken else f"{parent}_{field}"
        if name in taken:
            raise ValueError(f"{tool}: the lifted field {parent}.{field} clashes with parameter {name!r}")
        taken.add(name)
        node = _resolve(sub, defs)
        out.append(
            ToolParameter(
                name=name,
                path=(parent, field),
                annotation=_annotation(node, defs, f"{tool}.{parent}.{field}"),
                required=is_required,
                description=_one_line(node.get("description")) or f"The {field} field of {parent}.",
            )
        )
    for param in out:
        if not param.name.isidentifier() or keyword.iskeyword(param.name):
            raise ValueError(f"{tool}: parameter {param.name!r} is not a Python identifier")
    # Required parameters first, so the generated signature is a valid Python signature to read.
    return sorted(out, key=lambda p: not p.required)


def _docstring(description: str, params: Sequence[ToolParameter]) -> str:
    lines = [_one_line(description) or "A prgym tool.", ""]
    if params:
        lines.append("Args:")
        lines += [f"    {p.name}: {p.description}" for p in params]
        lines.append("")
    lines += ["Returns:", f"    {_RETURNS}"]
    return "\n".join(lines)


def _nest(params: Mapping[str, ToolParameter], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The tool's arguments from the method's keywords: lifted fields go back into their object; ``None``
    means "not given" (the env applies its default); unknown keywords pass through for the env to reject."""
    arguments: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        param = params.get(key)
        if param is not None and len(param.path) == 2:
            nested.setdefault(param.path[0], {})[param.path[1]] = value
        else:
            arguments[key] = value
    for parent, fields in nested.items():
        given = arguments.get(parent)
        arguments[parent] = {**given, **fields} if isinstance(given, Mapping) else fields
    return arguments


def _tool_method(schema: Mapping[str, Any]) -> Callable[..., str]:
    """A method ``name(self, **kwargs) -> str`` whose advertised signature and docstring describe the tool."""
    function = schema.get("function", schema)
    name = str(function["name"])
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ValueError(f"tool name {name!r} cannot be a public Python method name")
    params = tool_parameters(schema)
    by_name = {p.name: p for p in params}

    def method(self: PrgymEnvironment, **kwargs: Any) -> str:
        return self._call_tool(name, _nest(by_name, kwargs))

    method.__name__ = name
    method.__qualname__ = f"PrgymEnvironment.{name}"
    method.__doc__ = _docstring(str(function.get("description") or ""), params)
    empty = inspect.Parameter.empty
    method.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [
            inspect.Parameter(
                p.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=empty if p.required else None,
                annotation=p.annotation,
            )
            for p in params
        ],
        return_annotation=str,
    )
    method.__annotations__ = {**{p.name: p.annotation for p in params}, "return": str}
    method._prgym_parameters = tuple(params)  # type: ignore[attr-defined]
    return method


class PrgymEnvironment:
    """Base of the classes :func:`make_trl_environment` makes; one instance drives one rollout at a time.

    Only ``reset``, ``get_reward`` and the generated tool methods are public functions: TRL turns every other
    public method into a tool. ``env`` is the :class:`~sandbox.env.ProductResearchEnv`; ``trace`` lists this
    episode's calls (``name``, ``arguments``, ``observation``, ``reward``, ``terminated``, ``truncated``); ``task_id`` and ``seed`` are the current episode's.
    """

    _snapshot: str
    _tasks: Any = None
    _split: str | None = None
    _env_kwargs: dict[str, Any] = {}
    _tool_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.env = ProductResearchEnv(
            self._snapshot, tasks=self._tasks, split=self._split, **self._env_kwargs
        )
        self.trace: list[dict[str, Any]] = []
        self.task_id: str | None = None
        self.seed: int | None = None

    def reset(self, **row: Any) -> str | None:
        """Start the episode of a dataset row (``task_id``, ``seed``; other columns such as ``prompt`` are
        ignored). Returns None: the row's prompt (from :func:`grpo_dataset`) already is the env's opening chat.
        A row without a ``prompt`` gets the request back, which TRL appends to its empty user message."""
        seed = int(row.get("seed") or 0)
        task_id = row.get("task_id")
        options: dict[str, Any] = {}
        if row.get("task") is not None:
            options["task"] = row["task"]
        elif task_id is not None and self.env.tasks is not None:
            if str(task_id) not in self.env.tasks:
                raise ValueError(
                    f"row task_id {task_id!r} is not in the environment's task set "
                    f"({len(self.env.tasks)} tasks); build the dataset and the environment from the same tasks"
                )
            options["task_id"] = str(task_id)
        observation, info = self.env.reset(seed=seed, options=options or None)
        task = info["task"]
        if task_id is not None and str(task["task_id"]) != str(task_id):
            raise ValueError(
                f"row task_id {task_id!r}: without a task set the env generated {task['task_id']!r} for seed "
                f"{seed}; pass tasks= to make_trl_environment"
            )
        names = tuple(t["function"]["name"] for t in info["tools"])
        if names != self._tool_names:
            raise ValueError(
                f"task {task['task_id']!r} offers the tools {', '.join(names)}, but this environment class was "
                f"made for {', '.join(self._tool_names)} (a {task['kind']} task; set env_kwargs task_mode)"
            )
        self.trace = []
        self.task_id, self.seed = str(task["task_id"]), seed
        prompt = row.get("prompt")
        if not prompt:
            return observation
        last = (
            prompt[-1].get("content") if isinstance(prompt, list) and isinstance(prompt[-1], dict) else prompt
        )
        if isinstance(last, str) and task.get("query") and str(task["query"]).strip() not in last:
            raise ValueError(
                f"row task_id {task_id!r}: the prompt's last message is not this task's request; build rows "
                "with grpo_dataset from the same tasks"
            )
        return None

    def get_reward(self) -> float:
        """The episode's terminal reward (an episode without an accepted final answer is scored as truncated)."""
        return float(self._finish_episode().reward)

    def _finish_episode(self) -> EpisodeScore:
        return self.env.finish(truncated=True)

    def _call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        result = self.env.call_tool(name, arguments)
        self.trace.append(
            {
                "name": name,
                "arguments": arguments,
                "observation": result.observation,
                "reward": result.reward,
                "terminated": result.terminated,
                "truncated": result.truncated,
            }
        )
        return result.observation


def _merged_kwargs(env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    kwargs = {**DEFAULT_ENV_KWARGS, **dict(env_kwargs or {})}
    for reserved in ("snapshot", "tasks", "split"):
        if reserved in kwargs:
            raise ValueError(f"env_kwargs[{reserved!r}]: pass {reserved} as its own argument")
    return kwargs


def make_trl_environment(
    snapshot: str | Path,
    tasks: Any = None,
    *,
    split: str | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> type[PrgymEnvironment]:
    """A class to pass as ``GRPOTrainer(environment_factory=...)``: each instance owns a prgym env.

    Args:
        snapshot: The catalog snapshot directory.
        tasks: A task-set file, :class:`~sandbox.tasks.taskset.TaskSet` or list of tasks (the same as for
            :func:`grpo_dataset`); None: tasks generated from the catalog by seed.
        split: Only the tasks of this split.
        env_kwargs: More :class:`~sandbox.env.ProductResearchEnv` arguments (``plan_mode``,
            ``max_tool_result_chars``, ``tool_result_fields``, ``max_steps``, ``web``, ``task_mode``, ...), over
            :data:`DEFAULT_ENV_KWARGS`.
    """
    kwargs = _merged_kwargs(env_kwargs)
    probe = ProductResearchEnv(snapshot, tasks=tasks, split=split, **kwargs)
    try:
        schemas = probe.registry.schemas()
    finally:
        probe.close()
    methods = {s["function"]["name"]: _tool_method(s) for s in schemas}
    attributes: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": PrgymEnvironment.__doc__,
        "_snapshot": str(snapshot),
        "_tasks": tasks,
        "_split": split,
        "_env_kwargs": kwargs,
        "_tool_names": tuple(methods),
        "_tool_schemas": tuple(schemas),
        **methods,
    }
    return type("PrgymEnvironment", (PrgymEnvironment,), attributes)


def grpo_dataset(
    tasks: Any,
    snapshot: str | Path,
    *,
    split: str | None = None,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
) -> Dataset:
    """One row per task: ``prompt`` (the env's opening chat: its system prompt and the request, the same
    messages the SFT samples from ``prgym distill`` start with), ``task_id`` and ``seed`` (``seed + i``).

    Use the same ``tasks``, ``split`` and ``env_kwargs`` as for :func:`make_trl_environment` (the system prompt
    depends on ``plan_mode`` and the tools).
    """
    from datasets import Dataset

    env = ProductResearchEnv(snapshot, tasks=tasks, split=split, **_merged_kwargs(env_kwargs))
    rows: list[dict[str, Any]] = []
    try:
        if env.tasks is None:
            raise ValueError("grpo_dataset needs tasks (a task-set file, TaskSet or list of tasks)")
        for i, task in enumerate(env.tasks):
            _, info = env.reset(seed=seed + i, options={"task_id": task.task_id})
            prompt = [{"role": m["role"], "content": m["content"]} for m in info["messages"]]
            rows.append({"prompt": prompt, "task_id": task.task_id, "seed": seed + i})
    finally:
        env.close()
    return Dataset.from_list(rows)


def sft_dataset(path: str | Path) -> Dataset:
    """The samples of a ``prgym distill`` JSONL file as a dataset ``SFTTrainer`` reads (``messages``, ``tools``).

    Each message and tool schema is stored as a JSON value (``datasets.Json``), so rows come back exactly as
    written: inferring one struct type for all rows would give every tool schema the other tools' properties as
    nulls. Tool-call arguments written as JSON text (older exports, ``--arguments string``) become objects,
    which the TRL chat templates expect.
    """
    import json

    from datasets import Dataset, Features, Json, List

    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(sample, dict) or not isinstance(sample.get("messages"), list):
            raise ValueError(
                f"{path}:{number}: expected an object with a 'messages' list (a distilled sample)"
            )
        messages = []
        for message in sample["messages"]:
            calls = []
            for call in message.get("tool_calls") or []:
                function = dict(call["function"])
                if isinstance(function.get("arguments"), str):
                    function["arguments"] = json.loads(function["arguments"] or "{}")
                calls.append({**call, "function": function})
            messages.append({**message, "tool_calls": calls} if calls else message)
        rows.append({"messages": messages, "tools": list(sample.get("tools") or [])})
    if not rows:
        raise ValueError(f"{path}: no samples")
    return Dataset.from_list(rows, features=Features({"messages": List(Json()), "tools": List(Json())}))


def _component_func(component: str) -> Callable[..., list[float | None]]:
    def reward(environments: Iterable[Any] | None = None, **_: Any) -> list[float | None]:
        out: list[float | None] = []
        for env in environments or []:
            if not isinstance(env, PrgymEnvironment):
                out.append(None)
                continue
            value = env._finish_episode().components.get(component)
            out.append(None if value is None else float(value))
        return out

    reward.__name__ = f"prgym_{component}"
    reward.__qualname__ = reward.__name__
    reward.__doc__ = f"The {component!r} reward component of each rollout's episode (None if unmeasured)."
    return reward


def reward_component_funcs(
    task_mode: Literal["research", "shopping"] = "research",
    reward: RewardConfig | Mapping[str, Any] | None = None,
) -> list[Callable[..., list[float | None]]]:
    """One TRL reward function per reward component (``prgym_accepted``, ``prgym_grounding``, ...).

    TRL logs each as ``rewards/prgym_<component>/mean``. The environment's ``get_reward`` is already the
    weighted total, so give these weight 0 (``GRPOConfig(reward_weights=[0.0] * len(funcs))``; TRL appends
    the environment's weight 1 itself), or they are added to it. A component the env did not measure for an
    episode (``grounding`` of a report without citations) is None, which TRL leaves out of the mean.
    """
    if reward is None:
        weights = DEFAULT_RESEARCH_WEIGHTS if task_mode == "research" else DEFAULT_SHOPPING_WEIGHTS
    else:
        config = reward if isinstance(reward, RewardConfig) else RewardConfig.model_validate(dict(reward))
        weights = config.research_weights if task_mode == "research" else config.shopping_weights
    return [_component_func(name) for name in weights]
