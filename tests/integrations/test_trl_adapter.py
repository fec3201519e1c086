"""The TRL adapter (``harness.integrations.trl``) without a trainer: generated tool methods, their schemas
against the env's registry, ``reset(**row)`` with dataset rows, rewards and reward components."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from transformers.utils import get_json_schema

from harness.integrations.trl import (
    PrgymEnvironment,
    grpo_dataset,
    make_trl_environment,
    reward_component_funcs,
    tool_parameters,
)
from harness.policies.scripted import ScriptedPolicy
from sandbox.env import ProductResearchEnv, shared_backend
from sandbox.env.per_call import PLAN_TOOL
from sandbox.tasks.generator import generate_tasks


@pytest.fixture(scope="module")
def tasks(small_snapshot: Path) -> list:
    return generate_tasks(shared_backend(small_snapshot), 4, seed=21)


def _trl_tools(env: Any) -> dict[str, Any]:
    """The methods GRPOTrainer turns into tools, found the way TRL 1.16 finds them (public functions of the
    class other than reset and get_reward)."""
    return {
        name: getattr(env, name)
        for name, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
        if name not in ("reset", "get_reward") and not name.startswith("_")
    }


def _resolve(node: dict, defs: dict) -> dict:
    """The test's own reading of a registry property: follow ``$ref``, drop the null of ``anyOf [X, null]``."""
    if "$ref" in node:
        node = {**defs[node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    if "anyOf" in node:
        (kept,) = [o for o in node["anyOf"] if o.get("type") != "null"]
        node = {**_resolve(kept, defs), **{k: v for k, v in node.items() if k != "anyOf"}}
    return node


def _expected_json_type(node: dict, defs: dict) -> dict:
    """What get_json_schema writes for a parameter of this registry property (type, enum, items)."""
    node = _resolve(node, defs)
    if "enum" in node:
        return {"type": "string", "enum": node["enum"]}
    out: dict = {"type": node["type"]}
    if node["type"] == "array":
        out["items"] = _expected_json_type(node["items"], defs)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("plan_mode", ["tool", "turn", "none"])
def test_every_tool_method_has_a_schema_transformers_accepts(
    small_snapshot: Path, tasks: list, plan_mode: str
) -> None:
    cls = make_trl_environment(small_snapshot, tasks, env_kwargs={"plan_mode": plan_mode})
    env = cls()
    registry = ProductResearchEnv(small_snapshot, tasks=tasks, plan_mode=plan_mode).registry
    methods = _trl_tools(env)
    assert sorted(methods) == sorted(registry.names)
    assert (PLAN_TOOL in methods) == (plan_mode == "tool")
    for name, method in methods.items():
        schema = get_json_schema(method)
        assert schema["function"]["name"] == name
        assert schema["function"]["description"] == registry.get(name).schema["function"]["description"]


def test_generated_schemas_match_the_registry(small_snapshot: Path, tasks: list) -> None:
    """Every registry argument is a parameter of the same type, description and required-ness; the fields of
    object arguments (the search filters) are lifted to parameters of their own, and nothing else is added."""
    cls = make_trl_environment(small_snapshot, tasks)
    env = cls()
    for registry_schema in env.env.registry.schemas():
        name = registry_schema["function"]["name"]
        registry_params = registry_schema["function"]["parameters"]
        defs = registry_params.get("$defs", {})
        generated = get_json_schema(getattr(env, name))["function"]["parameters"]
        expected: dict[str, tuple[dict, str]] = {}
        required: set[str] = set(registry_params.get("required", []))
        for arg, node in registry_params["properties"].items():
            resolved = _resolve(node, defs)
            if resolved.get("type") == "object" and resolved.get("properties"):
                for field, sub in resolved["properties"].items():
                    expected[field] = (_expected_json_type(sub, defs), _resolve(sub, defs)["description"])
            else:
                expected[arg] = (_expected_json_type(node, defs), resolved["description"])
        assert set(generated["properties"]) == set(expected), name
        for param, (json_type, description) in expected.items():
            got = dict(generated["properties"][param])
            assert got.pop("description") == description, (name, param)
            assert got == json_type, (name, param)
        assert set(generated.get("required", [])) == required, name


def test_product_search_lifts_the_filters(small_snapshot: Path, tasks: list) -> None:
    env = make_trl_environment(small_snapshot, tasks)()
    params = {p.name: p for p in tool_parameters(env.env.registry.get("product_search").schema)}
    assert params["price_max"].path == ("filters", "price_max") and not params["price_max"].required
    assert params["query"].path == ("query",) and params["query"].required
    assert "filters" not in params


def test_tool_methods_give_the_env_observation(small_snapshot: Path, tasks: list) -> None:
    """A lifted call, the same call with the nested object (the distilled data's shape) and env.call_tool on
    a separate env give the same observation text."""
    cls = make_trl_environment(small_snapshot, tasks, env_kwargs={"plan_mode": "none"})
    rows = grpo_dataset(tasks, small_snapshot, env_kwargs={"plan_mode": "none"})
    task = tasks[0]
    budget = float(task.constraints.budget_max)
    lifted, nested = cls(), cls()
    lifted.reset(**rows[0])
    nested.reset(**rows[0])
    reference = ProductResearchEnv(small_snapshot, tasks=tasks, plan_mode="none")
    reference.reset(seed=rows[0]["seed"], options={"task_id": task.task_id})
    want = reference.call_tool(
        "product_search",
        {"query": "", "filters": {"price_max": budget, "category": task.constraints.category}},
    ).observation
    got = lifted.product_search(query="", price_max=budget, category=task.constraints.category)
    assert got == want and json.loads(got.split("\n\n")[0])["hits"]
    same = nested.product_search(
        query="", filters={"price_max": budget, "category": task.constraints.category}
    )
    assert same == want
    assert lifted.trace[0]["arguments"] == {
        "query": "",
        "filters": {"price_max": budget, "category": task.constraints.category},
    }


def test_bad_calls_reach_the_env_as_observations(small_snapshot: Path, tasks: list) -> None:
    cls = make_trl_environment(small_snapshot, tasks)
    env = cls()
    env.reset(**grpo_dataset(tasks, small_snapshot)[1])
    unknown_arg = env.calculate(expression="1 + 1", precision=3)
    assert json.loads(unknown_arg.split("\n\n")[0])["error_kind"] == "invalid_arguments"
    wrong_type = env.visit_product(product_ids="not-a-list")
    assert json.loads(wrong_type.split("\n\n")[0])["error_kind"] == "invalid_arguments"
    missing = env.calculate()
    assert "'expression' is required" in missing
    assert env.env._ctx is not None and len(env.trace) == 3


def test_reset_with_dataset_rows(small_snapshot: Path, tasks: list) -> None:
    rows = grpo_dataset(tasks, small_snapshot, seed=7)
    assert rows.column_names == ["prompt", "task_id", "seed"]
    assert rows["task_id"] == [t.task_id for t in tasks] and rows["seed"] == [7, 8, 9, 10]
    env = make_trl_environment(small_snapshot, tasks)()
    for row in rows:
        assert env.reset(**row) is None
        assert env.task_id == row["task_id"] and env.trace == []
        opening = [{"role": m["role"], "content": m["content"]} for m in env.env.messages]
        assert row["prompt"] == opening
        assert f"call {PLAN_TOOL}" in row["prompt"][0]["content"]  # the default plan_mode is "tool"
    request = env.reset(task_id=tasks[2].task_id, seed=0)
    assert isinstance(request, str) and tasks[2].query.strip() in request
    with pytest.raises(ValueError, match="not in the environment's task set"):
        env.reset(task_id="no-such-task", seed=0)
    with pytest.raises(ValueError, match="not this task's request"):
        env.reset(**{**rows[0], "task_id": tasks[1].task_id})


def test_reset_without_a_task_set_checks_the_generated_task(small_snapshot: Path, tasks: list) -> None:
    env = make_trl_environment(small_snapshot)()
    env.reset(seed=3)
    generated = env.task_id
    env.reset(seed=3, task_id=generated)
    assert env.task_id == generated
    with pytest.raises(ValueError, match="pass tasks= to make_trl_environment"):
        env.reset(seed=4, task_id=generated)
    with pytest.raises(ValueError, match="grpo_dataset needs tasks"):
        grpo_dataset(None, small_snapshot)


def _scripted_episode(env: PrgymEnvironment, row: dict) -> None:
    """The scripted policy's episode through the generated methods: its plan text goes to submit_plan, its
    tool calls (with nested filters) to the methods of the same names."""
    env.reset(**row)
    policy = ScriptedPolicy()
    tools = env.env.registry.schemas()
    for _ in range(30):
        action = policy.next_action(env.env.messages, tools)
        calls = action.get("tool_calls") or []
        if not calls:
            env.submit_plan(plan=action["content"])
        for call in calls:
            getattr(env, call["function"]["name"])(**json.loads(call["function"]["arguments"]))
        if env.trace and (env.trace[-1]["terminated"] or env.trace[-1]["truncated"]):
            return
    raise AssertionError("the scripted episode did not end")


def test_get_reward_is_the_env_terminal_reward(small_snapshot: Path, tasks: list) -> None:
    cls = make_trl_environment(small_snapshot, tasks)
    rows = grpo_dataset(tasks, small_snapshot)
    funcs = reward_component_funcs()
    assert [f.__name__ for f in funcs] == [
        "prgym_accepted",
        "prgym_effective_products",
        "prgym_grounding",
        "prgym_constraints",
        "prgym_format",
    ]

    done = cls()
    _scripted_episode(done, rows[0])
    last = done.trace[-1]
    assert last["terminated"] and last["reward"] > 0.5
    assert done.get_reward() == last["reward"] == done.env.finish().reward
    assert not any("[supervisor] Plan rejected" in c["observation"] for c in done.trace[1:])

    abandoned = cls()
    abandoned.reset(**rows[1])
    abandoned.product_search(query="", price_max=10.0)
    reward = abandoned.get_reward()
    score = abandoned.env.finish()
    assert score.truncated and reward == score.reward == 0.0
    assert abandoned.get_reward() == reward  # idempotent

    values = {f.__name__: f(environments=[done, abandoned, object()], completions=[]) for f in funcs}
    score_done = done.env.finish()
    for name, column in values.items():
        component = name.removeprefix("prgym_")
        assert column[0] == score_done.components.get(component)
        assert column[1] == score.components.get(component)
        assert column[2] is None
    shopping = reward_component_funcs("shopping")
    assert [f.__name__ for f in shopping] == ["prgym_success", "prgym_r_pro", "prgym_format"]


def test_only_reset_get_reward_and_tools_are_public(small_snapshot: Path, tasks: list) -> None:
    cls = make_trl_environment(small_snapshot, tasks)
    public = {n for n, _ in inspect.getmembers(cls, predicate=inspect.isfunction) if not n.startswith("_")}
    assert public == {"reset", "get_reward", *cls._tool_names}
    assert issubclass(cls, PrgymEnvironment) and cls.__name__ == "PrgymEnvironment"
    with pytest.raises(ValueError, match="pass tasks as its own argument"):
        make_trl_environment(small_snapshot, env_kwargs={"tasks": tasks})
