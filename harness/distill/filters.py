"""Which trajectories become training data, and why each other one does not.

Every trajectory gets a :class:`Decision`: kept, or dropped with exactly one :class:`DropReason` (the first
failing check, in the order below) and a detail naming the figure that failed:

1. ``not_accepted``: the final answer was not accepted (or there was none);
2. ``invalid_sample``: the internalized sample breaks a non-call rule of the validator (role order,
   supervisor text, unknown cited product);
3. ``too_few_tool_turns``: fewer assistant turns calling a research tool on the kept path than asked;
4. ``invalid_calls``: a tool call on the kept path is invalid (arguments, ids, error results);
5. ``low_grounding``: the report's grounding accuracy is below the threshold (research tasks; a report with no
   checkable claim counts as 0);
6. ``low_score``: the chosen score is below the threshold;
7. ``duplicate``: same task, same tool calls and same final answer as a trajectory already kept (the one
   with the higher score is kept).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.distill.internalize import Internalized
from harness.distill.validate import CALL_ISSUES, Issue
from sandbox.recorder.schema import EpisodeTrace

FINAL_TOOLS = frozenset({"submit_report", "recommend_products"})


class DropReason(str, Enum):
    not_accepted = "not_accepted"
    invalid_sample = "invalid_sample"
    too_few_tool_turns = "too_few_tool_turns"
    invalid_calls = "invalid_calls"
    low_grounding = "low_grounding"
    low_score = "low_score"
    duplicate = "duplicate"
    not_best_of_teachers = "not_best_of_teachers"


class FilterConfig(BaseModel):
    """Thresholds; ``None`` switches a check off."""

    model_config = ConfigDict(extra="forbid")

    require_accepted: bool = True
    min_tool_turns: int | None = Field(default=2, ge=0)
    min_grounding: float | None = Field(default=0.5, ge=0, le=1)
    min_score: float | None = None
    score: str = Field(
        default="reward",
        description="'reward', a reward component name, or 'judge' (scores given by episode id).",
    )
    dedupe: bool = True


class Candidate(BaseModel):
    """A trajectory on its way through the filters."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    trace: EpisodeTrace
    internalized: Internalized
    issues: list[Issue] = Field(default_factory=list)
    score: float | None = None


class Decision(BaseModel):
    """The fate of one trajectory."""

    episode_id: str
    task_id: str
    teacher: str
    kept: bool
    reason: DropReason | None = None
    detail: str = ""
    score: float | None = None


def score_of(trace: EpisodeTrace, key: str, external: Mapping[str, float] | None = None) -> float | None:
    """The score a filter or the ensemble ranks by: the reward, one of its components, or an external score
    (e.g. the RACE judge's) looked up by episode id."""
    if key == "judge":
        return None if external is None else external.get(trace.episode_id)
    if key == "reward":
        return trace.reward
    return trace.reward_components.get(key)


def tool_turns(messages: Sequence[Mapping[str, Any]]) -> int:
    """Assistant turns that call at least one research (non-final) tool."""
    count = 0
    for message in messages:
        if message.get("role") != "assistant":
            continue
        names = {(c.get("function") or {}).get("name") for c in message.get("tool_calls") or []}
        if names - FINAL_TOOLS:
            count += 1
    return count


def dedupe_key(candidate: Candidate) -> str:
    """Task + the kept tool calls (name, canonical arguments) + the final answer, hashed."""
    calls = []
    final = ""
    for message in candidate.internalized.sample.messages:
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            try:
                arguments = json.dumps(json.loads(function.get("arguments") or "{}"), sort_keys=True)
            except ValueError:
                arguments = str(function.get("arguments"))
            calls.append([function.get("name"), arguments])
        final = " ".join(str(message.get("content") or "").split())
    payload = json.dumps([candidate.trace.task_id, calls, final], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _first_failure(candidate: Candidate, config: FilterConfig) -> tuple[DropReason, str] | None:
    trace = candidate.trace
    if config.require_accepted and not trace.accepted:
        status = "no final answer" if trace.final_answer is None else "final answer rejected"
        return (
            DropReason.not_accepted,
            f"{status} (terminated={trace.terminated}, truncated={trace.truncated})",
        )
    other = [i for i in candidate.issues if i.code not in CALL_ISSUES]
    if other:
        return DropReason.invalid_sample, "; ".join(str(i) for i in other[:3])
    if config.min_tool_turns is not None:
        turns = tool_turns(candidate.internalized.sample.messages)
        if turns < config.min_tool_turns:
            return DropReason.too_few_tool_turns, f"{turns} tool turn(s) < {config.min_tool_turns}"
    calls = [i for i in candidate.issues if i.code in CALL_ISSUES]
    if calls:
        return DropReason.invalid_calls, "; ".join(str(i) for i in calls[:3])
    if config.min_grounding is not None and trace.task_kind == "research":
        grounding = trace.metrics.get("grounding_accuracy")
        value = float(grounding) if isinstance(grounding, (int, float)) else 0.0
        if value < config.min_grounding:
            shown = "no checkable claims" if grounding is None else f"{value:.3f}"
            return DropReason.low_grounding, f"grounding {shown} < {config.min_grounding}"
    if config.min_score is not None and (candidate.score is None or candidate.score < config.min_score):
        shown = "missing" if candidate.score is None else f"{candidate.score:.4g}"
        return DropReason.low_score, f"{config.score} {shown} < {config.min_score}"
    return None


def apply_filters(candidates: Sequence[Candidate], config: FilterConfig) -> list[Decision]:
    """A decision per candidate, in the candidates' order. Duplicates keep the best-scored copy."""
    decisions: dict[int, Decision] = {}
    passing: list[int] = []
    for position, candidate in enumerate(candidates):
        failure = _first_failure(candidate, config)
        if failure is not None:
            decisions[position] = _decision(candidate, False, *failure)
        else:
            passing.append(position)
    ranked = sorted(passing, key=lambda p: (-(candidates[p].score or 0.0), p))
    seen: dict[str, str] = {}
    for position in ranked:
        candidate = candidates[position]
        key = dedupe_key(candidate)
        if config.dedupe and key in seen:
            decisions[position] = _decision(
                candidate, False, DropReason.duplicate, f"same calls and answer as episode {seen[key]}"
            )
            continue
        seen[key] = candidate.trace.episode_id
        decisions[position] = _decision(candidate, True, None, "")
    return [decisions[p] for p in range(len(candidates))]


def _decision(candidate: Candidate, kept: bool, reason: DropReason | None, detail: str) -> Decision:
    return Decision(
        episode_id=candidate.trace.episode_id,
        task_id=candidate.trace.task_id,
        teacher=candidate.trace.teacher,
        kept=kept,
        reason=reason,
        detail=detail,
        score=candidate.score,
    )
