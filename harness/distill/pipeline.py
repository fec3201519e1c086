"""Traces in, training file out: internalize, validate, filter, pick across teachers, write JSONL.

One pass over the traces (plus, with an LLM rewriter, one over the kept ones: :func:`rewrite_kept`); every trajectory ends as a kept sample or a :class:`~harness.distill.filters.Decision`
saying why it was dropped, and the :class:`DistillReport` sums them up for the CLI's table.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from harness.defaults import DEFAULT_CONCURRENCY
from harness.distill.ensemble import SelectMode, select_teachers
from harness.distill.filters import Candidate, Decision, FilterConfig, apply_filters, score_of, tool_turns
from harness.distill.internalize import Internalized, TrainingSample, internalize
from harness.distill.rewrite import LLMRewriter, rewrite_traces
from harness.distill.validate import validate_sample
from sandbox.recorder.schema import EpisodeTrace


class DistillReport(BaseModel):
    """What happened to the trajectories."""

    trajectories: int = 0
    kept: int = 0
    dropped: dict[str, int] = Field(default_factory=dict)
    kept_by_teacher: dict[str, int] = Field(default_factory=dict)
    tool_turns: int = 0
    lessons: int = 0
    tokens: int = 0
    mean_score: float | None = None
    decisions: list[Decision] = Field(default_factory=list)


def _catalog_for(trace: EpisodeTrace, catalog: Any) -> Any:
    """The catalog to check citations against: the given backend (if its snapshot is the trace's) or the ids
    the snapshot confirmed during the episode."""
    if (
        catalog is not None
        and getattr(catalog, "snapshot_id", trace.catalog_snapshot) == trace.catalog_snapshot
    ):
        return catalog
    return set(trace.known_product_ids)


def build_candidates(
    traces: Sequence[EpisodeTrace],
    config: FilterConfig,
    *,
    catalog: Any = None,
    external_scores: Mapping[str, float] | None = None,
    internalized: Mapping[str, Internalized] | None = None,
    progress: Callable[[], None] | None = None,
) -> list[Candidate]:
    """Internalize (unless given) and validate each trace."""
    out = []
    for trace in traces:
        done = (internalized or {}).get(trace.episode_id) or internalize(trace)
        issues = validate_sample(
            done.sample.model_dump(),
            catalog=_catalog_for(trace, catalog),
            forbidden_texts=done.forbidden_texts,
        )
        out.append(
            Candidate(
                trace=trace,
                internalized=done,
                issues=issues,
                score=score_of(trace, config.score, external_scores),
            )
        )
        if progress is not None:
            progress()
    return out


def distill(
    candidates: Sequence[Candidate], config: FilterConfig, mode: SelectMode = "all"
) -> tuple[list[TrainingSample], DistillReport]:
    """Filter and select; return the kept samples (teacher and score in ``meta``) and the report."""
    decisions = select_teachers(candidates, apply_filters(candidates, config), mode)
    samples: list[TrainingSample] = []
    dropped: Counter[str] = Counter()
    teachers: Counter[str] = Counter()
    turns = lessons = tokens = 0
    scores = []
    for candidate, decision in zip(candidates, decisions, strict=True):
        if not decision.kept:
            dropped[decision.reason.value if decision.reason else "?"] += 1
            continue
        sample = candidate.internalized.sample.model_copy(deep=True)
        sample.meta.update(teacher=candidate.trace.teacher, score=candidate.score, score_key=config.score)
        samples.append(sample)
        teachers[candidate.trace.teacher] += 1
        turns += tool_turns(sample.messages)
        lessons += candidate.internalized.lessons
        tokens += int(candidate.trace.usage.get("total_tokens", 0))
        if candidate.score is not None:
            scores.append(candidate.score)
    report = DistillReport(
        trajectories=len(candidates),
        kept=len(samples),
        dropped=dict(sorted(dropped.items())),
        kept_by_teacher=dict(sorted(teachers.items())),
        tool_turns=turns,
        lessons=lessons,
        tokens=tokens,
        mean_score=sum(scores) / len(scores) if scores else None,
        decisions=list(decisions),
    )
    return samples, report


def write_samples(samples: Sequence[TrainingSample], path: str | Path) -> None:
    """One sample per line (``messages``, ``tools``, ``meta``), loadable by ``datasets.load_dataset('json')``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample.model_dump(), ensure_ascii=False) + "\n")


async def rewrite_kept(
    candidates: Sequence[Candidate],
    config: FilterConfig,
    mode: SelectMode,
    rewriter: LLMRewriter,
    *,
    catalog: Any = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[], None] | None = None,
) -> list[Candidate]:
    """Candidates with the reflections of the trajectories that will be kept rewritten by ``rewriter``.

    Only the kept ones are rewritten (the filters and the ensemble rule never look at reflection text, so the
    decisions stay the same). A rewritten sample that fails the validator is replaced by its offline version,
    with ``meta.rewrite_error`` saying why.
    """
    decisions = select_teachers(candidates, apply_filters(candidates, config), mode)
    kept = [c for c, d in zip(candidates, decisions, strict=True) if d.kept]
    rewritten = await rewrite_traces(
        rewriter, [c.trace for c in kept], concurrency=concurrency, progress=progress
    )
    replaced: dict[int, Candidate] = {}
    for candidate, done in zip(kept, rewritten, strict=True):
        issues = validate_sample(
            done.sample.model_dump(),
            catalog=_catalog_for(candidate.trace, catalog),
            forbidden_texts=done.forbidden_texts,
        )
        if issues:
            fallback = candidate.internalized.model_copy(deep=True)
            fallback.sample.meta["rewrite_error"] = "; ".join(str(i) for i in issues[:3])
            replaced[id(candidate)] = candidate.model_copy(update={"internalized": fallback})
        else:
            replaced[id(candidate)] = candidate.model_copy(update={"internalized": done})
    return [replaced.get(id(c), c) for c in candidates]
