"""``prgym eval``: run a policy on a shopping task file or suite, ``k`` trials per task, and score it.

Episodes run through the rollout episode driver (:func:`harness.rollout.episode.run_episode`) on the prgym env,
so an evaluated episode is exactly a rollout episode; a thin tap keeps the env's final ``metrics`` (per-field
scores, ``exact``, ``crash``) and counts tool calls. Per intent (``meta.intent``, else the task type) the
summary reports ASR (success rate over episodes), CAR (mean ``r_pro``), pass^k (DESIGN section 7), the per-field
scores, the recommended-product share, the length reward, mean steps, tool calls and tokens. Research (report)
tasks, intent ``research``, report EPC (distinct existing products cited), EPC ok (cited products meeting every
hard constraint), grounding accuracy (mean over episodes whose report makes a checkable claim), constraint
satisfaction, the offline rubric score (:mod:`harness.eval.research`), the reward, and the RACE score when a
judge ran; each episode keeps its report so a later run can use this one as its judge reference.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from harness.defaults import DEFAULT_CONCURRENCY, DEFAULT_MAX_STEPS
from harness.eval.research import rubric_score
from harness.rollout.episode import Policy, run_episode
from sandbox.env import ProductResearchEnv
from sandbox.rewards.metrics import pass_hat_k
from sandbox.tasks.models import ResearchTask, ShoppingTask
from sandbox.tasks.taskset import TaskSet

FIELD_ORDER = ("title", "price", "service", "sku & attrs", "kw")
"""Per-field columns: ShoppingBench's four (``run_evaluate.py``) and the web tasks' knowledge check."""

PolicyMaker = Callable[[ShoppingTask | ResearchTask, int], Policy]
"""``(task, episode seed) -> a fresh policy for one episode``."""


class EpisodeScore(BaseModel):
    task_id: str
    intent: str
    trial: int
    success: bool = False
    r_pro: float = 0.0
    exact: float = 0.0
    product: float = 0.0
    length: float = 0.0
    fields: dict[str, float] = Field(default_factory=dict)
    steps: int = 0
    tool_calls: int = 0
    tokens: int = 0
    crash: str | None = None
    error: str | None = None
    reward: float = 0.0
    accepted: bool = False
    epc: int | None = None
    epc_ok: int | None = None
    grounding: float | None = None
    constraints: float | None = None
    rubric: float | None = None
    race: float | None = None
    judge_error: str | None = None
    report: str | None = None


class IntentSummary(BaseModel):
    tasks: int
    episodes: int
    asr: float
    car: float
    pass_k: float
    fields: dict[str, float]
    product: float
    exact: float
    length: float
    steps: float
    tool_calls: float
    tokens: float
    errors: int
    crashes: int
    reward: float = 0.0
    accepted: float = 0.0
    epc: float | None = None
    epc_ok: float | None = None
    grounding: float | None = None
    constraints: float | None = None
    rubric: float | None = None
    race: float | None = None
    judged: int = 0


class _Tap:
    """Delegates to the env, keeps the last ``metrics`` and counts tool calls (run_episode returns rewards only)."""

    def __init__(self, env: ProductResearchEnv) -> None:
        self.env = env
        self.metrics: dict[str, Any] = {}
        self.final_answer: dict[str, Any] | None = None
        self.tool_calls = 0

    async def areset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return await asyncio.to_thread(self.env.reset, seed=seed, options=options)

    async def astep(self, action: Any):
        if isinstance(action, dict):
            self.tool_calls += len(action.get("tool_calls") or [])
        result = await asyncio.to_thread(self.env.step, action)
        if "metrics" in result[4]:
            self.metrics = dict(result[4]["metrics"])
            self.final_answer = result[4].get("final_answer")
        return result

    def close(self) -> None:
        self.env.close()


def intent_of(task: ShoppingTask | ResearchTask) -> str:
    if isinstance(task, ResearchTask):
        return "research"
    return str(task.meta.get("intent") or task.task_type)


async def evaluate(
    catalog: str | Path,
    tasks: TaskSet,
    make_policy: PolicyMaker,
    *,
    trials: int = 1,
    seed: int = 0,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_steps: int = DEFAULT_MAX_STEPS,
    on_episode: Callable[[EpisodeScore], None] | None = None,
) -> list[EpisodeScore]:
    """Every task x trial, at most ``concurrency`` at once; results in (task, trial) order."""
    every = list(tasks)
    if not every:
        raise ValueError("the task file has no tasks")
    by_kind = {
        "shopping": TaskSet([t for t in every if isinstance(t, ShoppingTask)]),
        "research": TaskSet([t for t in every if isinstance(t, ResearchTask)]),
    }
    position = {t.task_id: n for n, t in enumerate(every)}
    gate = asyncio.Semaphore(concurrency)

    async def one(task: ShoppingTask | ResearchTask, trial: int) -> EpisodeScore:
        episode_seed = seed * 1_000_003 + trial * 7919 + position[task.task_id]
        taps: list[_Tap] = []
        mode = "research" if isinstance(task, ResearchTask) else "shopping"

        def make_env() -> _Tap:
            env = ProductResearchEnv(catalog, task_mode=mode, tasks=by_kind[mode], max_steps=max_steps)
            taps.append(_Tap(env))
            return taps[-1]

        score = EpisodeScore(task_id=task.task_id, intent=intent_of(task), trial=trial)
        async with gate:
            try:
                policy = make_policy(task, episode_seed)
                outcome = await run_episode(make_env, policy, task.task_id, episode_seed, max_steps=max_steps)
            except Exception as exc:  # one failing episode is a scored failure, not the end of the run
                score.error = f"{type(exc).__name__}: {exc}"
            else:
                m = taps[0].metrics if taps else {}
                score.success = bool(m.get("success"))
                score.r_pro = float(m.get("r_pro") or 0.0)
                score.exact = float(m.get("exact") or 0.0)
                score.product = float(m.get("product") or 0.0)
                score.length = float(m.get("length") or 0.0)
                score.fields = {k: float(v) for k, v in (m.get("fields") or {}).items()}
                score.crash = m.get("crash")
                score.steps = outcome.steps
                score.tool_calls = taps[0].tool_calls if taps else 0
                score.tokens = int(outcome.usage.get("total_tokens", 0))
                score.reward = float(outcome.reward)
                score.accepted = bool(m.get("accepted"))
                if isinstance(task, ResearchTask):
                    _research_fields(score, task, m, taps[0].final_answer if taps else None)
        if on_episode:
            on_episode(score)
        return score

    return list(await asyncio.gather(*(one(t, k) for t in every for k in range(trials))))


def _research_fields(
    score: EpisodeScore, task: ResearchTask, m: dict[str, Any], answer: dict[str, Any] | None
) -> None:
    report = (answer or {}).get("report") if (answer or {}).get("kind") == "report" else None
    score.report = report or None
    score.epc = int(m.get("effective_product_count") or 0)
    score.epc_ok = int(m.get("constraint_satisfying_count") or 0)
    grounding = m.get("grounding_accuracy")
    score.grounding = float(grounding) if grounding is not None and score.report else None
    score.constraints = float(m.get("constraint_satisfaction") or 0.0)
    score.rubric = rubric_score(score.report, task.rubric)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def _mean_of(values: Sequence[float | None]) -> float | None:
    """Mean of the measured values; None when none was measured."""
    measured = [float(v) for v in values if v is not None]
    return _mean(measured) if measured else None


def summarize(scores: Sequence[EpisodeScore], trials: int) -> dict[str, IntentSummary]:
    """Per intent and ``all``."""
    groups: dict[str, list[EpisodeScore]] = defaultdict(list)
    for s in scores:
        groups[s.intent].append(s)
        groups["all"].append(s)
    # a field is averaged over the episodes of intents that report it (web tasks have no price field, research
    # tasks none): counting the others as 0 made the oracle's "all" price score 0.75 on a mixed file
    reported: dict[str, set[str]] = defaultdict(set)
    for s in scores:
        reported[s.intent] |= set(s.fields)
    out: dict[str, IntentSummary] = {}
    for intent in sorted(groups, key=lambda k: (k == "all", k)):
        eps = groups[intent]
        per_task: dict[str, list[bool]] = defaultdict(list)
        for s in eps:
            per_task[s.task_id].append(s.success)
        names = sorted({f for s in eps for f in s.fields})
        out[intent] = IntentSummary(
            tasks=len(per_task),
            episodes=len(eps),
            asr=_mean([float(s.success) for s in eps]),
            car=_mean([s.r_pro for s in eps]),
            pass_k=_mean([pass_hat_k(sum(v), len(v), min(trials, len(v))) for v in per_task.values()]),
            fields={f: _mean([s.fields.get(f, 0.0) for s in eps if f in reported[s.intent]]) for f in names},
            product=_mean([s.product for s in eps]),
            exact=_mean([s.exact for s in eps]),
            length=_mean([s.length for s in eps]),
            steps=_mean([s.steps for s in eps]),
            tool_calls=_mean([s.tool_calls for s in eps]),
            tokens=_mean([s.tokens for s in eps]),
            errors=sum(1 for s in eps if s.error),
            crashes=sum(1 for s in eps if s.crash),
            reward=_mean([s.reward for s in eps]),
            accepted=_mean([float(s.accepted) for s in eps]),
            epc=_mean_of([s.epc for s in eps]),
            epc_ok=_mean_of([s.epc_ok for s in eps]),
            grounding=_mean_of([s.grounding for s in eps]),
            constraints=_mean_of([s.constraints for s in eps]),
            rubric=_mean_of([s.rubric for s in eps]),
            race=_mean_of([s.race for s in eps]),
            judged=sum(1 for s in eps if s.race is not None),
        )
    return out
