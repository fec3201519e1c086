"""The RACE formula (DeepResearch Bench, DESIGN section 1), as pure functions over validated scores.

Per report ``S = sum_d W_d * (sum_c w_c s_c / sum_c w_c)``; overall relative score ``S_t / (S_t + S_r)``
(0.5 = as good as the reference). Per dimension the same ratio on that dimension's weighted mean. When both
scores are 0 the reports are equally (un)good and the ratio is 0.5.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    weight: float = Field(gt=0)


class Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    weight: float = Field(ge=0)
    criteria: list[Criterion] = Field(min_length=1)


class Criteria(BaseModel):
    """Dimension weights and weighted criteria for one task (weights are normalised when used)."""

    model_config = ConfigDict(extra="forbid")

    dimensions: list[Dimension] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Criteria:
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names):
            raise ValueError(f"dimension names must be unique, got {names}")
        if sum(d.weight for d in self.dimensions) <= 0:
            raise ValueError("dimension weights must not all be 0")
        return self


class RaceScore(BaseModel):
    """Weighted scores of both reports and the relative score, overall and per dimension."""

    target: float
    reference: float
    relative: float
    per_dimension: dict[str, float]
    target_per_dimension: dict[str, float]
    reference_per_dimension: dict[str, float]


def _ratio(target: float, reference: float) -> float:
    total = target + reference
    return 0.5 if total <= 0 else target / total


def dimension_mean(dimension: Dimension, scores: list[float]) -> float:
    """``sum_c w_c s_c / sum_c w_c`` for one dimension."""
    if len(scores) != len(dimension.criteria):
        raise ValueError(
            f"dimension {dimension.name!r}: {len(scores)} scores for {len(dimension.criteria)} criteria"
        )
    weights = [c.weight for c in dimension.criteria]
    return sum(w * s for w, s in zip(weights, scores, strict=True)) / sum(weights)


def race_score(
    criteria: Criteria, target: dict[str, list[float]], reference: dict[str, list[float]]
) -> RaceScore:
    """The RACE relative score from per-criterion scores (0-10) of the target and the reference report."""
    total_weight = sum(d.weight for d in criteria.dimensions)
    s_t = s_r = 0.0
    per_dim: dict[str, float] = {}
    t_dim: dict[str, float] = {}
    r_dim: dict[str, float] = {}
    for dimension in criteria.dimensions:
        weight = dimension.weight / total_weight
        mt = dimension_mean(dimension, target[dimension.name])
        mr = dimension_mean(dimension, reference[dimension.name])
        s_t += weight * mt
        s_r += weight * mr
        t_dim[dimension.name], r_dim[dimension.name] = mt, mr
        per_dim[dimension.name] = _ratio(mt, mr)
    return RaceScore(
        target=s_t,
        reference=s_r,
        relative=_ratio(s_t, s_r),
        per_dimension=per_dim,
        target_per_dimension=t_dim,
        reference_per_dimension=r_dim,
    )
