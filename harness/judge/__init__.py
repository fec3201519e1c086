"""RACE-style judge (DESIGN section 1): criteria per task, one scoring call per target/reference pair,
relative score overall and per dimension, strict parsing with bounded retries, and a sha256-keyed cache."""

from harness.judge.cache import JudgeCache, cache_key
from harness.judge.judge import (
    DIMENSIONS,
    JudgeError,
    JudgeResult,
    RaceJudge,
    criteria_from_rubric,
    criterion_ids,
    parse_criteria,
    parse_scores,
)
from harness.judge.runs import judge_runs, pick_references
from harness.judge.scoring import Criteria, Criterion, Dimension, RaceScore, dimension_mean, race_score

__all__ = [
    "DIMENSIONS",
    "Criteria",
    "Criterion",
    "Dimension",
    "JudgeCache",
    "JudgeError",
    "JudgeResult",
    "RaceJudge",
    "RaceScore",
    "cache_key",
    "criteria_from_rubric",
    "criterion_ids",
    "dimension_mean",
    "judge_runs",
    "parse_criteria",
    "parse_scores",
    "pick_references",
    "race_score",
]
