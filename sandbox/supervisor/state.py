"""The explicit phase state machine: PLAN -> RESEARCH -> REPORT -> DONE, with per-phase revision limits.

=========  ===============================  ==========================================================
phase      event                            next phase
=========  ===============================  ==========================================================
PLAN       plan accepted                    RESEARCH
PLAN       plan rejected, revisions left    PLAN (the agent revises its plan)
PLAN       plan rejected, limit exhausted   RESEARCH (the episode goes on; ``plan_accepted`` is False)
any        final answer submitted           REPORT (while the supervisor checks it)
REPORT     answer accepted                  DONE (terminated, accepted)
REPORT     answer rejected, revisions left  RESEARCH (the agent may research more and resubmit)
REPORT     answer rejected, limit exhausted DONE (terminated, not accepted)
=========  ===============================  ==========================================================

A limit counts *revisions after a rejection*: with ``report=6`` the agent gets the first attempt plus six
revisions (seven attempts) before the episode ends; with ``plan=2``, three plan attempts.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class Phase(str, Enum):
    plan = "plan"
    research = "research"
    report = "report"
    done = "done"


class RevisionLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    plan: int = Field(default=2, ge=0)
    report: int = Field(default=6, ge=0)


class PhaseMachine:
    """Tracks the phase and the revision counters; the env asks it what happens after each verdict."""

    def __init__(self, limits: RevisionLimits | None = None) -> None:
        self.limits = limits or RevisionLimits()
        self.phase = Phase.plan
        self.plan_attempts = 0
        self.plan_rejections = 0
        self.plan_accepted: bool | None = None
        self.answer_attempts = 0
        self.answer_rejections = 0
        self.answer_accepted: bool | None = None

    @property
    def done(self) -> bool:
        return self.phase is Phase.done

    @staticmethod
    def _left(limit: int, rejections: int) -> int:
        """Further attempts allowed: the first rejection opens the ``limit`` revisions, each later one uses one."""
        return max(0, limit - max(0, rejections - 1)) if rejections <= limit else 0

    @property
    def plan_revisions_left(self) -> int:
        return self._left(self.limits.plan, self.plan_rejections)

    @property
    def report_revisions_left(self) -> int:
        return self._left(self.limits.report, self.answer_rejections)

    def plan_checked(self, passed: bool) -> None:
        """Record a plan verdict (only meaningful in PLAN)."""
        if self.phase is not Phase.plan:
            raise RuntimeError(f"a plan verdict arrived in phase {self.phase.value}")
        self.plan_attempts += 1
        if passed:
            self.plan_accepted = True
            self.phase = Phase.research
            return
        self.plan_rejections += 1
        if self.plan_rejections > self.limits.plan:
            self.plan_accepted = False
            self.phase = Phase.research

    def answer_submitted(self) -> None:
        if self.phase is Phase.done:
            raise RuntimeError("the episode is over; no answer can be submitted")
        self.phase = Phase.report
        self.answer_attempts += 1

    def answer_checked(self, passed: bool) -> None:
        if self.phase is not Phase.report:
            raise RuntimeError(f"an answer verdict arrived in phase {self.phase.value}")
        if passed:
            self.answer_accepted = True
            self.phase = Phase.done
            return
        self.answer_rejections += 1
        if self.answer_rejections > self.limits.report:
            self.answer_accepted = False
            self.phase = Phase.done
        else:
            self.phase = Phase.research

    def snapshot(self) -> dict[str, object]:
        """The counters as plain data for ``info``."""
        return {
            "phase": self.phase.value,
            "plan_attempts": self.plan_attempts,
            "plan_accepted": self.plan_accepted,
            "plan_revisions_left": self.plan_revisions_left,
            "answer_attempts": self.answer_attempts,
            "answer_accepted": self.answer_accepted,
            "report_revisions_left": self.report_revisions_left,
        }
