"""TRL training on CPU against real prgym episodes: 2 SFT steps on ``prgym distill`` output and 2 GRPO steps
through ``GRPOTrainer(environment_factory=...)``, both with the examples' own code (``examples/train_sft.py``,
``examples/train_grpo.py``: a 2-layer Qwen2 built from a config and a tokenizer trained here, no downloads).

What the GRPO half checks beyond a finite loss: the rollouts' tool calls reached the env, the reward TRL
logged is what ``get_reward()`` returned, ``get_reward()`` is the env's own terminal reward (the recorded calls
replayed on a fresh env and scored with ``finish()`` give the same number), and with ``plan_mode="tool"`` (the
adapter's default) the calls are not each answered with a plan critique, as they are in ``"turn"`` mode.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("trl")
pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

import harness.integrations.trl as trl_adapter  # noqa: E402
from harness.cli import app  # noqa: E402
from harness.policies.scripted import ScriptedPolicy  # noqa: E402
from sandbox.env import ProductResearchEnv, shared_backend  # noqa: E402
from sandbox.recorder import EpisodeRecorder  # noqa: E402
from sandbox.tasks.generator import generate_tasks  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLAN_CRITIQUE = "Plan rejected"
PLAN_REMINDER = "no plan yet: call submit_plan"


def _example(name: str) -> ModuleType:
    """An example script as a module (``examples/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"prgym_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tasks(small_snapshot: Path) -> list:
    return generate_tasks(shared_backend(small_snapshot), 2, seed=5)


@pytest.fixture(scope="module")
def distilled(small_snapshot: Path, tasks: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scripted-baseline episodes recorded and exported with ``prgym distill`` (the README's SFT path)."""
    root = tmp_path_factory.mktemp("trl_sft")
    env = EpisodeRecorder(
        ProductResearchEnv(small_snapshot, tasks=tasks),
        root / "run" / "traces.jsonl",
        policy={"teacher": "scripted"},
    )
    for seed, task in enumerate(tasks):
        _, info = env.reset(seed=seed, options={"task_id": task.task_id, "episode_id": f"sft-{seed}"})
        policy = ScriptedPolicy()
        tools = info["tools"]  # only reset's info lists the tools; step infos carry the messages
        while True:
            *_, terminated, truncated, info = env.step(policy.next_action(info["messages"], tools))
            if terminated or truncated:
                break
    env.close()
    out = root / "train.jsonl"
    result = CliRunner().invoke(app, ["distill", str(root / "run"), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


def test_two_sft_steps_on_distilled_samples(distilled: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in distilled.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 and all(any(m.get("tool_calls") for m in r["messages"]) for r in rows)
    result = _example("train_sft").train_sft(distilled, tmp_path / "sft", steps=2, seed=0)
    losses = [entry["loss"] for entry in result["log"]]
    assert len(losses) == 2 and all(math.isfinite(x) and x > 0 for x in losses), losses
    assert result["trainer"].state.global_step == 2


def _recording(cls: type) -> type:
    """``cls`` with every ``get_reward()`` result recorded beside the episode's calls (same class name, so TRL
    logs the reward under ``rewards/PrgymEnvironment``)."""
    records: list[dict[str, Any]] = []

    def get_reward(self: Any) -> float:
        reward = cls.get_reward(self)
        records.append(
            {"task_id": self.task_id, "seed": self.seed, "reward": reward, "trace": list(self.trace)}
        )
        return reward

    return type(cls.__name__, (cls,), {"get_reward": get_reward, "records": records})


def _replay(
    snapshot: Path, tasks: list, record: dict[str, Any], **env_kwargs: Any
) -> tuple[list[str], float]:
    """The record's calls on a fresh env through ``call_tool``: observations and ``finish()``'s reward."""
    env = ProductResearchEnv(snapshot, tasks=tasks, **env_kwargs)
    env.reset(seed=record["seed"], options={"task_id": record["task_id"]})
    observations = [env.call_tool(c["name"], c["arguments"]).observation for c in record["trace"]]
    reward = env.finish(truncated=True).reward
    env.close()
    return observations, reward


def test_two_grpo_steps_drive_real_episodes(
    small_snapshot: Path, tasks: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[type] = []

    def make_recording_environment(*args: Any, **kwargs: Any) -> type:
        made.append(_recording(real_make(*args, **kwargs)))
        return made[-1]

    real_make = trl_adapter.make_trl_environment
    monkeypatch.setattr(trl_adapter, "make_trl_environment", make_recording_environment)
    example = _example("train_grpo")
    result = example.train_grpo(small_snapshot, tasks, tmp_path / "grpo", steps=2, seed=0)

    log = result["log"]
    assert len(log) == 2 and all(math.isfinite(entry["loss"]) for entry in log), log
    (environment,) = made
    assert result["environment"] is environment and environment._env_kwargs["plan_mode"] == "tool"
    records = environment.records
    assert len(records) == 4  # 2 steps x 2 rollouts, one get_reward each
    calls = [call for record in records for call in record["trace"]]
    assert calls, "no tool call reached the env"
    assert {c["name"] for c in calls} <= {"product_search", "submit_report"}
    assert all(entry["tools/call_frequency"] > 0 for entry in log)
    # A second call in a rollout: TRL fed the first call's result back and the model went on.
    assert max(len(record["trace"]) for record in records) >= 2

    env_kwargs = dict(environment._env_kwargs)
    for step, entry in enumerate(log):
        step_rewards = [r["reward"] for r in records[2 * step : 2 * step + 2]]
        assert entry["rewards/PrgymEnvironment/mean"] == pytest.approx(sum(step_rewards) / 2)
    for record in records:
        observations, reward = _replay(small_snapshot, tasks, record, **env_kwargs)
        assert observations == [c["observation"] for c in record["trace"]]
        assert record["reward"] == reward
        if not record["trace"]:
            continue

        # plan_mode="tool": no call is answered with a plan critique. A research call before any plan gets the one
        # reminder of the episode (a report sent first ends the Plan phase without one).
        assert not any(PLAN_CRITIQUE in o for o in observations), observations
        reminders = [PLAN_REMINDER in o for o in observations]
        first_is_research = record["trace"][0]["name"] == "product_search"
        assert reminders == [first_is_research] + [False] * (len(reminders) - 1)
        # The same calls in "turn" mode, where a text-less driver's calls are its plan attempts: the first call
        # (and each one after it while the Plan phase lasts) is answered with a plan critique.
        turn, _ = _replay(small_snapshot, tasks, record, **{**env_kwargs, "plan_mode": "turn"})
        assert PLAN_CRITIQUE in turn[0], turn
