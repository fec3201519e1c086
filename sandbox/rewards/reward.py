"""The terminal reward: a weighted sum of named components in [0, 1], configurable, with its breakdown.

Research tasks (defaults): ``accepted`` (the supervisor accepted the report), ``effective_products``
(constraint-satisfying cited products / ``epc_target``, capped at 1), ``grounding`` (grounding accuracy),
``constraints`` (share of cited products meeting every hard constraint) and ``format`` (share of well-formed
actions). Shopping tasks: ``success``, ``r_pro`` and ``format``. Weights are configuration; a component with
weight 0 is still computed and reported.

A component with nothing to measure is neutral, never a penalty: when a report makes no checkable claim,
``grounding`` is left out of ``components`` and its weight is spread over the others in proportion to theirs
(``reward_weights`` are the renormalised weights; ``metrics["unmeasured"]`` names what was left out). An
episode without a final answer (no report, no recommendation) scores 0: every component is 0, ``format``
included. The env puts the components in
``info["reward_components"]`` and every raw figure (EPC, r_pro, ...) in ``info["metrics"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sandbox.catalog.backend import CatalogBackend
from sandbox.rewards.metrics import format_validity, report_metrics
from sandbox.rewards.shoppingbench import (
    TITLE_THRESHOLD,
    RecordLookup,
    TitleSimilarity,
    length_reward,
    score_shopping_task,
    token_cosine,
)
from sandbox.tasks.models import ResearchTask, Scoring, ShoppingTask

DEFAULT_RESEARCH_WEIGHTS = {
    "accepted": 0.3,
    "effective_products": 0.2,
    "grounding": 0.2,
    "constraints": 0.2,
    "format": 0.1,
}
DEFAULT_SHOPPING_WEIGHTS = {"success": 0.5, "r_pro": 0.4, "format": 0.1}


class RewardConfig(BaseModel):
    """Which components count and how much. Unknown component names are rejected."""

    model_config = ConfigDict(extra="forbid")

    research_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_RESEARCH_WEIGHTS))
    shopping_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SHOPPING_WEIGHTS))
    epc_target: int = Field(default=10, ge=1, description="Constraint-satisfying products for full credit.")
    title_threshold: float = Field(default=TITLE_THRESHOLD, ge=0, le=1)
    scoring: Scoring | None = Field(
        default=None,
        description="ShoppingBench rule set for every shopping task; None: each task's own (task.scoring).",
    )

    @field_validator("research_weights")
    @classmethod
    def _research_names(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_weights(value, DEFAULT_RESEARCH_WEIGHTS)

    @field_validator("shopping_weights")
    @classmethod
    def _shopping_names(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_weights(value, DEFAULT_SHOPPING_WEIGHTS)


def _check_weights(value: dict[str, float], known: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"unknown reward components {unknown}; known: {sorted(known)}")
    if any(w < 0 for w in value.values()):
        raise ValueError("reward weights must be non-negative")
    return value


class EpisodeSummary(BaseModel):
    """What the reward needs to know about a finished episode."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    task: ResearchTask | ShoppingTask
    report: str | None = None
    recommended: list[str] = Field(default_factory=list)
    accepted: bool = False
    actions: int = 0
    valid_actions: int = 0
    truncated: bool = False


class RewardBreakdown(BaseModel):
    total: float
    components: dict[str, float]
    weights: dict[str, float]
    metrics: dict[str, Any]


class RewardFunction(Protocol):
    """Anything that turns a finished episode into a reward with its breakdown."""

    def __call__(self, summary: EpisodeSummary, backend: CatalogBackend) -> RewardBreakdown: ...


class CompositeReward:
    """The default :class:`RewardFunction`: weighted components (see the module docstring)."""

    def __init__(
        self,
        config: RewardConfig | None = None,
        *,
        similarity: TitleSimilarity = token_cosine,
        records: RecordLookup | None = None,
    ) -> None:
        self.config = config or RewardConfig()
        self.similarity = similarity
        self.records = records

    def __call__(self, summary: EpisodeSummary, backend: CatalogBackend) -> RewardBreakdown:
        fmt = format_validity(summary.valid_actions, summary.actions)
        if isinstance(summary.task, ShoppingTask):
            return self._shopping(summary, backend, fmt)
        return self._research(summary, backend, fmt)

    def _research(self, summary: EpisodeSummary, backend: CatalogBackend, fmt: float) -> RewardBreakdown:
        task = summary.task
        assert isinstance(task, ResearchTask)
        metrics: dict[str, Any] = {"format_validity": fmt, "accepted": summary.accepted}
        if summary.report:
            report, _, _ = report_metrics(summary.report, backend, task.constraints)
            metrics.update(report.model_dump())
            components = {
                "accepted": float(summary.accepted),
                "effective_products": min(report.constraint_satisfying_count / self.config.epc_target, 1.0),
                "grounding": report.grounding_accuracy,
                "constraints": report.constraint_satisfaction,
                "format": fmt,
            }
        else:
            metrics.update(effective_product_count=0, constraint_satisfying_count=0, grounding_accuracy=None)
            components = {
                "accepted": 0.0,
                "effective_products": 0.0,
                "grounding": 0.0,
                "constraints": 0.0,
                "format": 0.0,
            }
        return _combine(components, self.config.research_weights, metrics)

    def _shopping(self, summary: EpisodeSummary, backend: CatalogBackend, fmt: float) -> RewardBreakdown:
        task = summary.task
        assert isinstance(task, ShoppingTask)
        products = backend.get_products(summary.recommended) if summary.recommended else []
        score = score_shopping_task(
            task,
            products,
            similarity=self.similarity,
            threshold=self.config.title_threshold,
            scoring=self.config.scoring,
            records=self.records,
            recommended_ids=summary.recommended,
        )
        score.length = length_reward(summary.actions, bool(summary.recommended) and not summary.truncated)
        metrics: dict[str, Any] = {
            "format_validity": fmt,
            "accepted": summary.accepted,
            "recommended": list(summary.recommended),
            **score.model_dump(),
        }
        answered = bool(summary.recommended)
        components = {
            "success": float(score.success),
            "r_pro": score.r_pro,
            "format": fmt if answered else 0.0,
        }
        return _combine(components, self.config.shopping_weights, metrics)


def _combine(
    components: Mapping[str, float | None], weights: Mapping[str, float], metrics: dict[str, Any]
) -> RewardBreakdown:
    """Weighted sum of the measured components; ``None`` (nothing to measure) is left out and its weight spread
    over the measured ones in proportion to theirs, so the total weight stays the same."""
    measured = {name: float(v) for name, v in components.items() if v is not None}
    unmeasured = sorted(name for name, v in components.items() if v is None)
    effective = {name: weights.get(name, 0.0) for name in measured}
    full, kept = sum(weights.get(name, 0.0) for name in components), sum(effective.values())
    if unmeasured and kept > 0:
        effective = {name: w * full / kept for name, w in effective.items()}
    if unmeasured:
        metrics["unmeasured"] = unmeasured
    total = sum(effective[name] * value for name, value in measured.items())
    return RewardBreakdown(total=float(total), components=measured, weights=effective, metrics=metrics)
