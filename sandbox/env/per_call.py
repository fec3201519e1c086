"""The env API for per-call drivers: one tool call per step, a public ``finish``, plan modes, compact results.

RL trainers such as TRL's ``GRPOTrainer(environment_factory=...)``, verl's tool loop and OpenEnv sessions drive an
environment one tool call at a time and never hand it the assistant's free text. :class:`PerCallAPI` (mixed into
:class:`~sandbox.env.core.ProductResearchEnv`) gives them that shape without a second code path: every call still
goes through ``step`` (same parsing, registry, supervisor, events and reward), only the entry and exit differ.

* :meth:`PerCallAPI.call_tool` runs one tool call as one env step and returns a :class:`ToolStepResult`.
* :meth:`PerCallAPI.finish` scores the episode now (an abandoned or ongoing one counts as truncated) and returns an
  :class:`EpisodeScore`; it is idempotent, and after a terminal ``step`` it returns that step's score.
* ``plan_mode`` decides how the Plan phase works: ``turn`` (the first assistant turn's text is the plan, as
  before), ``tool`` (the plan is submitted with a ``submit_plan(plan)`` tool the supervisor checks, so drivers
  that send only tool calls keep the Plan phase; tool calls before a plan run, with one reminder per episode) or
  ``none`` (no Plan phase: the episode starts in RESEARCH).
* ``max_tool_result_chars`` and ``tool_result_fields`` make observations compact: a product search page is
  4-5.5k characters, which fills a small model's context in a few calls. They change only what the agent reads;
  the supervisor and reward still see the full typed results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from gymnasium.error import ResetNeeded
from pydantic import BaseModel, Field

from sandbox.supervisor.protocol import Verdict
from sandbox.supervisor.state import Phase
from sandbox.tools.answer_tools import VerdictStatus
from sandbox.tools.catalog_tools import ProductHit, ProductRecord
from sandbox.tools.registry import Tool, ToolOutcome, ToolRegistry, ToolResult

if TYPE_CHECKING:
    from sandbox.env.core import ProductResearchEnv

PlanMode = Literal["turn", "tool", "none"]
PLAN_MODES: tuple[str, ...] = ("turn", "tool", "none")
PLAN_TOOL = "submit_plan"
MAX_PLAN_CHARS = 5_000
MIN_TOOL_RESULT_CHARS = 200

ITEM_FIELDS: dict[str, tuple[str, type[BaseModel]]] = {
    "product_search": ("hits", ProductHit),
    "visit_product": ("products", ProductRecord),
}
"""Tools whose results are lists of records, the list's key and the record model (for field selection)."""


class ToolStepResult(BaseModel):
    """What one :meth:`PerCallAPI.call_tool` step returns."""

    observation: str = Field(description="The tool's result text, then any supervisor or environment notes.")
    reward: float = Field(description="0 until the episode ends; then the terminal reward.")
    terminated: bool
    truncated: bool
    info: dict[str, Any] = Field(default_factory=dict, description="The step's info (see the env docstring).")


class EpisodeScore(BaseModel):
    """The terminal score of an episode: total reward, its components and the raw metrics."""

    reward: float
    components: dict[str, float] = Field(default_factory=dict)
    weights: dict[str, float] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    accepted: bool = False
    truncated: bool = False


class PlanVerdict(ToolResult):
    """The supervisor's decision on a submitted plan, as the agent reads it in the tool result."""

    status: VerdictStatus
    failed_checks: list[str] = Field(default_factory=list)
    revisions_left: int = 0
    note: str | None = None


class PlanReceipt(ToolResult):
    chars: int
    verdict: PlanVerdict | None = None


def submit_plan(plan: Annotated[str, Field(min_length=1, max_length=MAX_PLAN_CHARS)]) -> PlanReceipt:
    """Submit your research plan before you research: what you will search for, how you will check each requirement and how you will decide.

    The supervisor checks the plan; if it asks for a revision, submit the revised plan with this tool again.

    Args:
        plan: The plan in a few sentences; mention every requirement of the request.
    """
    return PlanReceipt(chars=len(plan))


def plan_tool() -> Tool:
    """The ``submit_plan`` tool (tagged ``read``: it commits no final answer)."""
    return Tool.from_function(submit_plan, "read")


def check_field_selection(fields: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    """Validate ``tool_result_fields``: known tools, known record fields; ``id`` is always kept."""
    if not fields:
        return {}
    if not isinstance(fields, Mapping):
        raise TypeError("tool_result_fields must map a tool name to a list of field names")
    out: dict[str, tuple[str, ...]] = {}
    for tool, names in fields.items():
        if tool not in ITEM_FIELDS:
            raise ValueError(
                f"tool_result_fields: field selection works for {', '.join(ITEM_FIELDS)}, not {tool!r}"
            )
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise TypeError(f"tool_result_fields[{tool!r}] must be a list of field names")
        model = ITEM_FIELDS[tool][1]
        unknown = [n for n in names if n not in model.model_fields]
        if unknown:
            raise ValueError(
                f"tool_result_fields[{tool!r}]: unknown field(s) {', '.join(map(str, unknown))}; "
                f"expected some of {', '.join(model.model_fields)}"
            )
        out[tool] = tuple(dict.fromkeys(["id", *names]))
    return out


def compact_content(
    outcome: ToolOutcome, fields: Mapping[str, tuple[str, ...]], max_chars: int | None
) -> str:
    """The observation text of ``outcome`` with only the selected record fields, at most ``max_chars`` long.

    Too long a result first loses whole records from the end (the JSON stays valid and says how many were left
    out), and only then is cut as text.
    """
    content = outcome.content
    selected = fields.get(outcome.name)
    item_key = ITEM_FIELDS.get(outcome.name, ("", None))[0]
    data: dict[str, Any] | None = None
    if isinstance(outcome.result, ToolResult) and item_key and (selected or max_chars):
        data = outcome.result.model_dump(mode="json", exclude_none=True)
        if selected:
            data[item_key] = [
                {k: v for k, v in item.items() if k in selected} for item in data.get(item_key, [])
            ]
        content = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if max_chars is None or len(content) <= max_chars:
        return content
    if data is not None and data.get(item_key):
        items = list(data[item_key])
        total = len(items)
        while items:
            items.pop()
            data[item_key] = items
            data["cut"] = f"{total - len(items)} of {total} {item_key} left out to fit {max_chars} characters"
            content = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            if len(content) <= max_chars:
                return content
    marker = f"... [{len(content) - max_chars} more characters cut]"
    return content[: max(0, max_chars - len(marker))] + marker


class PerCallAPI:
    """Mixin of :class:`~sandbox.env.core.ProductResearchEnv`: ``call_tool``, ``finish`` and the plan modes."""

    plan_mode: PlanMode
    max_tool_result_chars: int | None
    tool_result_fields: dict[str, tuple[str, ...]]

    def _init_per_call(
        self,
        plan_mode: str,
        max_tool_result_chars: int | None,
        tool_result_fields: Mapping[str, Sequence[str]] | None,
    ) -> None:
        if plan_mode not in PLAN_MODES:
            raise ValueError(f"plan_mode must be one of {', '.join(PLAN_MODES)}, got {plan_mode!r}")
        if max_tool_result_chars is not None and max_tool_result_chars < MIN_TOOL_RESULT_CHARS:
            raise ValueError(
                f"max_tool_result_chars must be at least {MIN_TOOL_RESULT_CHARS} (or None), "
                f"got {max_tool_result_chars}"
            )
        self.plan_mode = plan_mode  # type: ignore[assignment]
        self.max_tool_result_chars = max_tool_result_chars
        self.tool_result_fields = check_field_selection(tool_result_fields)
        self._score: EpisodeScore | None = None
        self._plan_reminded = False

    # -- hooks called by ProductResearchEnv ---------------------------------------------------------------------

    def _with_plan_tool(self, registry: ToolRegistry) -> ToolRegistry:
        if self.plan_mode != "tool":
            return registry
        return ToolRegistry([plan_tool(), *(registry.get(name) for name in registry.names)])

    def _start_per_call(self: ProductResearchEnv) -> None:  # type: ignore[misc]
        """Per-episode state, after ``reset`` made the phase machine."""
        self._score = None
        self._plan_reminded = False
        if self.plan_mode == "none":
            self._machine.phase = Phase.research

    def _plan_turn(self: ProductResearchEnv, text: str | None) -> Verdict | None:  # type: ignore[misc]
        """In ``turn`` mode the text of a PLAN-phase turn is the plan; the other modes never read text as a plan."""
        if self.plan_mode == "turn" and self._machine.phase is Phase.plan:
            return self._check_plan(text)
        return None

    def _no_tool_note(self: ProductResearchEnv, final: str) -> str:  # type: ignore[misc]
        if self.plan_mode == "tool" and self._machine.phase is Phase.plan:
            return (
                f"no tool was called. Submit your plan with {PLAN_TOOL}, call a tool, or answer with {final}."
            )
        return f"no tool was called. Call a tool, or give your final answer with {final}."

    def _plan_reminder(self: ProductResearchEnv, names: list[str]) -> str | None:  # type: ignore[misc]
        """Once per episode in ``tool`` mode: research started without a plan."""
        if self.plan_mode != "tool" or self._plan_reminded or self._machine.phase is not Phase.plan:
            return None
        if not any(name != PLAN_TOOL for name in names):
            return None
        self._plan_reminded = True
        return (
            f"no plan yet: call {PLAN_TOOL} with your plan (what you will search for, how you will check each "
            "requirement, how you will decide); the supervisor checks it. Your tool calls ran."
        )

    def _is_plan_call(self, outcome: ToolOutcome) -> bool:
        return self.plan_mode == "tool" and outcome.name == PLAN_TOOL

    def _plan_call(self: ProductResearchEnv, outcome: ToolOutcome) -> tuple[ToolOutcome, Verdict | None]:  # type: ignore[misc]
        """Check a well-formed ``submit_plan`` call and put the verdict into its receipt."""
        if not outcome.ok:
            return outcome, None
        if self._machine.phase is not Phase.plan:
            state = "was accepted" if self._machine.plan_accepted else "is over"
            message = f"{PLAN_TOOL}: the plan phase {state}; continue with the research"
            return ToolRegistry.fail(PLAN_TOOL, outcome.arguments, "tool_error", message, access="read"), None
        plan = str((outcome.arguments or {}).get("plan", ""))
        verdict = self._check_plan(plan)
        status: VerdictStatus
        if verdict.passed:
            status, note = "accepted", "plan accepted: go ahead with the research"
        elif self._machine.phase is Phase.plan:
            status, note = "rejected", "see the supervisor's critique and submit a revised plan"
        else:
            status, note = (
                "rejected",
                "rejected and the revision limit is reached: continue with the research",
            )
        receipt = outcome.result.model_copy(
            update={
                "verdict": PlanVerdict(
                    status=status,
                    failed_checks=sorted({c.check for c in verdict.critiques}),
                    revisions_left=self._machine.plan_revisions_left,
                    note=note,
                )
            }
        )
        return outcome.model_copy(update={"content": receipt.to_content(), "result": receipt}), verdict

    def _observed(self, outcome: ToolOutcome) -> str:
        """The tool result text the agent reads (compacted when configured)."""
        if not self.tool_result_fields and self.max_tool_result_chars is None:
            return outcome.content
        return compact_content(outcome, self.tool_result_fields, self.max_tool_result_chars)

    def _end_episode(self: ProductResearchEnv, info: dict[str, Any], truncated: bool) -> float:  # type: ignore[misc]
        """Score the episode once, keeping the score for :meth:`finish`."""
        reward = self._finish(info, truncated)
        self._score = EpisodeScore(
            reward=reward,
            components=dict(info.get("reward_components") or {}),
            weights=dict(info.get("reward_weights") or {}),
            metrics=dict(info.get("metrics") or {}),
            accepted=bool(info.get("accepted")),
            truncated=truncated,
        )
        return reward

    # -- public API -----------------------------------------------------------------------------------------------

    def call_tool(  # type: ignore[misc]
        self: ProductResearchEnv, name: str, arguments: dict[str, Any] | str | None = None
    ) -> ToolStepResult:
        """Run one tool call as one env step.

        ``arguments`` is a dict or its JSON text. A bad call (unknown tool, bad JSON, wrong types) is an error
        observation, never an exception. The observation is the tool's result text followed by any supervisor
        critique or environment note of this step (no ``[tool ...]`` header: per-call drivers wrap results in
        their own tool messages); ``info`` is the step's info.
        """
        if self._task is None:
            raise ResetNeeded("call reset() before call_tool()")
        before = len(self._messages)
        action = {"name": name, "arguments": {} if arguments is None else arguments}
        observation, reward, terminated, truncated, info = self.step(action)
        added = self._messages[before + 1 :] if len(self._messages) > before else []
        if added:
            observation = "\n\n".join(str(m.get("content") or "") for m in added)
        return ToolStepResult(
            observation=observation, reward=reward, terminated=terminated, truncated=truncated, info=info
        )

    def finish(self: ProductResearchEnv, truncated: bool = True) -> EpisodeScore:  # type: ignore[misc]
        """Score the episode now and end it; idempotent.

        After a terminal ``step`` (or an earlier ``finish``) this returns that score unchanged. Otherwise the
        episode ends here, counted as ``truncated`` (an abandoned episode: the driver stopped calling tools), and
        its terminal reward is computed from what the agent did so far, emitting the ``episode_end`` event.
        """
        if self._task is None:
            raise ResetNeeded("call reset() before finish()")
        if self._score is None:
            self._over = True
            self._end_episode({}, truncated)
        assert self._score is not None
        return self._score
