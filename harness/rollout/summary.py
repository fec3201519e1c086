"""The end-of-run summary: counts, mean reward, failures by reason, per policy; printable and saved as JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from harness.rollout.records import EpisodeRecord

TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "calls")


class PolicySummary(BaseModel):
    episodes: int = 0
    completed: int = 0
    failed: int = 0
    mean_reward: float | None = None


class RolloutSummary(BaseModel):
    """Figures over the requested jobs' records (earlier runs' included: a resumed run reports the whole
    experiment), plus what this invocation did."""

    jobs: int
    skipped_finished: int = Field(description="Already in the results file when this run started.")
    rerun_failed: int = Field(default=0, description="Failed records dropped to rerun them (--retry-failed).")
    ran: int = Field(description="Episodes that finished in this run.")
    completed: int
    failed: int
    missing: int = Field(description="Requested jobs with no record (the run was interrupted).")
    mean_reward: float | None
    failures_by_reason: dict[str, int]
    per_policy: dict[str, PolicySummary]
    tokens: dict[str, int] = Field(
        description="Every LLM role's tokens and calls added up, failed episodes too."
    )
    tokens_by_role: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="The same per role (agent, supervisor, ...)."
    )
    wall_s: float
    episodes_per_s: float

    @classmethod
    def build(
        cls,
        records: Iterable[EpisodeRecord],
        *,
        jobs: int,
        skipped: int,
        rerun_failed: int,
        ran: int,
        wall_s: float,
    ) -> RolloutSummary:
        records = list(records)
        done = [r for r in records if r.status == "completed"]
        failed = [r for r in records if r.status == "failed"]
        rewards = [r.reward for r in done if r.reward is not None]
        per_policy: dict[str, PolicySummary] = {}
        for policy in sorted({r.policy for r in records}):
            mine = [r for r in records if r.policy == policy]
            ok = [r.reward for r in mine if r.status == "completed" and r.reward is not None]
            per_policy[policy] = PolicySummary(
                episodes=len(mine),
                completed=sum(r.status == "completed" for r in mine),
                failed=sum(r.status == "failed" for r in mine),
                mean_reward=sum(ok) / len(ok) if ok else None,
            )
        tokens: Counter[str] = Counter()
        by_role: dict[str, Counter[str]] = {}
        for r in records:
            roles = r.info.get("usage_by_role")
            if not isinstance(roles, dict) or not roles:
                roles = {"agent": r.usage} if r.usage else {}
            for role, usage in roles.items():
                if not isinstance(usage, dict):
                    continue
                counter = by_role.setdefault(str(role), Counter())
                for key in TOKEN_KEYS:
                    value = int(usage.get(key, 0) or 0)
                    counter[key] += value
                    tokens[key] += value
        return cls(
            jobs=jobs,
            skipped_finished=skipped,
            rerun_failed=rerun_failed,
            ran=ran,
            completed=len(done),
            failed=len(failed),
            missing=jobs - len(records),
            mean_reward=sum(rewards) / len(rewards) if rewards else None,
            failures_by_reason=dict(Counter(r.reason or "unknown" for r in failed).most_common()),
            per_policy=per_policy,
            tokens={k: tokens[k] for k in TOKEN_KEYS},
            tokens_by_role={role: {k: c[k] for k in TOKEN_KEYS} for role, c in sorted(by_role.items())},
            wall_s=wall_s,
            episodes_per_s=ran / wall_s if wall_s > 0 else 0.0,
        )

    def print(self, console: Console | None = None) -> None:
        console = console or Console()
        table = Table(title="rollout summary")
        for column in ("policy", "episodes", "completed", "failed", "mean reward"):
            table.add_column(column, justify="left" if column == "policy" else "right")
        for name, p in self.per_policy.items():
            table.add_row(name, str(p.episodes), str(p.completed), str(p.failed), _fmt(p.mean_reward))
        table.add_row(
            "[bold]all",
            f"[bold]{self.completed + self.failed}",
            f"[bold]{self.completed}",
            f"[bold]{self.failed}",
            f"[bold]{_fmt(self.mean_reward)}",
        )
        console.print(table)
        console.print(
            f"{self.jobs} jobs: {self.skipped_finished} already finished, {self.ran} run now "
            f"({self.episodes_per_s:.2f} episodes/s over {self.wall_s:.1f} s), {self.missing} missing"
        )
        if self.failures_by_reason:
            reasons = ", ".join(f"{k}: {v}" for k, v in self.failures_by_reason.items())
            console.print(f"failures by reason: {reasons}")
        if self.tokens.get("total_tokens") or self.tokens.get("calls"):
            roles = ""
            if self.tokens_by_role:
                roles = (
                    " ("
                    + "; ".join(
                        f"{role}: {u.get('total_tokens', 0):,} over {u.get('calls', 0):,} calls"
                        for role, u in self.tokens_by_role.items()
                    )
                    + ")"
                )
            console.print(
                f"tokens: {self.tokens.get('prompt_tokens', 0):,} prompt + "
                f"{self.tokens.get('completion_tokens', 0):,} completion over {self.tokens.get('calls', 0):,} "
                f"calls, failed episodes included{roles}",
                soft_wrap=True,
            )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
