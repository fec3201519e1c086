"""``ProductResearchEnv``: the Gymnasium environment of prgym (see the class docstring for the manual)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
from gymnasium.error import ResetNeeded

from sandbox.catalog.backend import CatalogBackend
from sandbox.defaults import DEFAULT_MAX_STEPS
from sandbox.env.actions import ParsedAction, ParsedCall, parse_action
from sandbox.env.events import EnvEvent
from sandbox.env.observation import ObservationBudget
from sandbox.env.per_call import PerCallAPI, PlanMode
from sandbox.env.prompts import ENV_MARKER, system_prompt, task_message
from sandbox.env.shared import shared_backend, shared_tasks, shared_web_tools
from sandbox.env.spaces import AgentActionSpace, TextSpace
from sandbox.rewards.reward import CompositeReward, EpisodeSummary, RewardConfig, RewardFunction
from sandbox.rewards.shoppingbench import records_from_tasks
from sandbox.supervisor.protocol import (
    SUPERVISOR_MARKER,
    Critique,
    FinalAnswer,
    Supervisor,
    SupervisorContext,
    ToolCallRecord,
    Verdict,
)
from sandbox.supervisor.rules import RuleBasedSupervisor
from sandbox.supervisor.state import Phase, PhaseMachine, RevisionLimits
from sandbox.tasks.generator import research_task
from sandbox.tasks.models import ResearchTask, ShoppingTask, parse_task
from sandbox.tasks.taskset import TaskSet
from sandbox.tools.answer_tools import AnswerVerdict, RecommendationReceipt, ReportReceipt, VerdictStatus
from sandbox.tools.catalog_tools import ProductSearchResult, VisitProductResult
from sandbox.tools.registry import ToolOutcome, ToolRegistry
from sandbox.tools.toolset import FINAL_TOOLS, build_toolset
from sandbox.tools.web_tools import WebCallResult, WebToolProvider

ENV_VERSION = "0.1.0"
"""Bumped whenever observations, tools, supervisor rules or rewards change meaning."""

TaskMode = Literal["research", "shopping"]
_FORMAT_ERRORS = frozenset(
    {"unknown_tool", "malformed_call", "bad_json", "bad_arguments", "invalid_arguments"}
)


class ProductResearchEnv(PerCallAPI, gym.Env[str, Any]):
    """Catalog-grounded product research (and ShoppingBench-style shopping) as a Gymnasium environment.

    ## Description

    An agent receives a shopping request and researches it with tools over a real product catalog: it states
    a plan, searches and reads products (and, if configured, the web), computes with a safe calculator, and
    finishes with a final answer, a cited report (research tasks) or a list of recommended products (shopping
    tasks). A supervisor checks the plan, every tool call and the final answer against the catalog and sends
    critiques the agent can act on, up to per-phase revision limits. One ``step`` is one assistant turn.

    ## Action Space

    :class:`~sandbox.env.spaces.AgentActionSpace`: an OpenAI assistant message dict (its ``tool_calls`` are all
    executed in order, each answered by a ``tool`` message with the matching ``tool_call_id``), a JSON tool
    call ``{"name": ..., "arguments": {...}}`` (dict or text), or plain text (a plan, or text with
    ``<tool_call>`` blocks). Anything malformed yields an error observation, never an exception.

    ## Observation Space

    :class:`~sandbox.env.spaces.TextSpace`: the text of the messages the step added after the agent's turn:
    tool results (JSON text, headed ``[tool <name> <call id>]``) and feedback (``[supervisor] ...``,
    ``[environment] ...``). The chat messages the step added (the agent's turn as recorded, tool messages,
    feedback) are in ``info["new_messages"]``; the whole OpenAI-format chat is in ``info["messages"]`` (with
    ``info_messages=True``, the default for a single env) and always in :attr:`ProductResearchEnv.messages`.

    ## Rewards

    0 on every step but the last; the last step returns the terminal reward of the configured
    :class:`~sandbox.rewards.reward.RewardFunction` (default: weighted components in [0, 1], see
    :mod:`sandbox.rewards.reward`), with ``info["reward_components"]``, ``info["reward_weights"]`` and
    ``info["metrics"]`` (Effective Product Count, grounding accuracy, constraint satisfaction, r_pro, ...).

    ## Starting State

    ``reset(seed, options)`` picks the task: ``options["task"]`` (a task model or dict), ``options["task_id"]``
    (from the task set), else one drawn with ``self.np_random`` from the task set (``options["split"]``
    overrides the split), else, in research mode without a task set, one generated from the catalog. The
    observation is the user's request; ``info`` holds it again as ``observation``, plus ``tools`` (OpenAI
    schemas), ``tool_access`` (read/write), ``messages``, ``task``, ``catalog_snapshot``, ``cache_namespace``
    and ``env_version``.

    ## Episode End

    Terminated when the final answer is accepted, or rejected after the report revision limit is used up
    (default: the first attempt plus 6 revisions). Truncated after ``max_steps`` steps, or ended by ``finish()``.

    ## Per-call drivers (RL trainers)

    ``call_tool(name, arguments) -> ToolStepResult`` runs one tool call as one step (``observation``: the tool's
    result text followed by any supervisor/environment note; ``reward`` (0 until the end), ``terminated``,
    ``truncated``, ``info``). ``finish(truncated=True) -> EpisodeScore`` (``reward``, ``components``,
    ``metrics``) scores the episode now, for drivers that stop calling tools; it is idempotent and returns the
    terminal step's score if the episode already ended. ``plan_mode`` says where the plan comes from:
    ``"turn"`` (default: the first turn's text), ``"tool"`` (a ``submit_plan(plan)`` tool the supervisor checks;
    research calls before a plan run, with one reminder per episode) or ``"none"`` (no Plan phase). See
    :mod:`sandbox.env.per_call`.

    ## Arguments

    * ``snapshot``: catalog snapshot directory (opened once per process and shared), or ``backend``: any
      :class:`~sandbox.catalog.backend.CatalogBackend` object; ``backend_kind`` (or ``backend`` as a string):
      ``lexical``/``dense``/``hybrid``/``elasticsearch``; ``es_url``: the cluster for ``elasticsearch``
      (default ``$PRGYM_ES_URL``; ``snapshot`` then names the pushed snapshot, or is omitted for the alias).
    * ``task_mode``: ``research`` or ``shopping``; ``tasks``: task-set JSONL, ShoppingBench file or directory,
      a :class:`~sandbox.tasks.taskset.TaskSet` or a list of tasks; ``split``: ``train``/``eval``/``test``.
    * ``web``: a :class:`~sandbox.tools.web_tools.WebToolProvider` (e.g. ``sandbox.web.WebTools``) or a
      ``sandbox.web.WebConfig`` / dict; without it ``web_search``/``web_visit`` are not offered.
    * ``supervisor`` (default :class:`~sandbox.supervisor.rules.RuleBasedSupervisor`), ``reward`` (a
      RewardFunction, RewardConfig or dict), ``plan_revisions`` (2), ``report_revisions`` (6),
      ``max_steps`` (40), ``min_products`` (3, for generated tasks), ``page_size`` (10 hits per search page).
    * ``on_event``: a first subscriber receiving every :class:`~sandbox.env.events.EnvEvent` (with timings;
      more with :meth:`subscribe`);
      ``info_timings``: also put timings in ``info["events"]`` (makes infos differ between identical runs);
      ``info_messages``: put (a shallow copy of) the full chat in every step's info (default True; the reset
      info always has it). Turn it off for vector envs, where every info is pickled across processes on every
      step: ``gymnasium.make_vec(ID, num_envs=N)`` does so by default; ``info["new_messages"]`` is always there.
    * ``plan_mode``: ``turn``/``tool``/``none`` (above); ``max_tool_result_chars``: cap on the tool result text
      the agent reads (records are dropped from the end first, so the JSON stays valid); ``tool_result_fields``:
      per-tool record fields to keep, e.g. ``{"product_search": ["title", "price"], "visit_product": [...]}``
      (``id`` is always kept). Both change only the observation; the supervisor and reward see full results.

    ## Tools

    =============================  ======  =====================================================================
    tool                           access  what it does
    =============================  ======  =====================================================================
    ``product_search``             read    lexical / dense / hybrid catalog search with filters, sort and pages
    ``visit_product``              read    full records of product ids
    ``calculate``                  read    safe arithmetic (totals, unit prices, discounts)
    ``web_search``, ``web_visit``  read    the web (only with ``web=`` configured)
    ``submit_report``              write   research tasks: the cited report that ends the episode
    ``recommend_products``         write   shopping tasks: the products that end the episode
    =============================  ======  =====================================================================

    ``info["tool_access"]`` gives the same tags for the episode's tools.

    ## Reward Components (default weights)

    Research: ``accepted`` 0.3, ``effective_products`` 0.2, ``grounding`` 0.2, ``constraints`` 0.2, ``format``
    0.1. Shopping: ``success`` 0.5, ``r_pro`` 0.4, ``format`` 0.1. A component with nothing to measure is left
    out and its weight spread over the others; an episode without an answer scores 0.

    ## Version History

    - v0 (``ENV_VERSION`` 0.1.0): first release; ``max_steps`` is the one truncation (no Gymnasium
      ``TimeLimit``), the last step always carries the reward components and metrics; schema-2 traces from one
      typed event channel; without ``tasks`` a reset draws its task from the one task generator
      (``sandbox.tasks.generator.research_task``: behaviour history, persona, template writer).

    ## Example

    >>> import gymnasium as gym, sandbox.env  # doctest: +SKIP
    >>> env = gym.make("prgym/ProductResearch-v0", snapshot="catalog/small")  # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    >>> obs, r, term, trunc, info = env.step("Plan: search the category within the budget, compare 3 ...")  # doctest: +SKIP
    >>> obs, r, term, trunc, info = env.step({"name": "product_search", "arguments": {"query": "headphones"}})  # doctest: +SKIP
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        snapshot: str | Path | None = None,
        *,
        task_mode: TaskMode = "research",
        backend: CatalogBackend | str | None = None,
        backend_kind: str = "lexical",
        es_url: str | None = None,
        tasks: str | Path | TaskSet | Sequence[Any] | None = None,
        split: str | None = None,
        web: WebToolProvider | Mapping[str, Any] | Any | None = None,
        supervisor: Supervisor | None = None,
        reward: RewardFunction | RewardConfig | Mapping[str, Any] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        plan_revisions: int = 2,
        report_revisions: int = 6,
        min_products: int = 3,
        page_size: int = 10,
        on_event: Callable[[EnvEvent], None] | None = None,
        info_timings: bool = False,
        info_messages: bool = True,
        render_mode: str | None = None,
        plan_mode: PlanMode = "turn",
        max_tool_result_chars: int | None = None,
        tool_result_fields: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if task_mode not in ("research", "shopping"):
            raise ValueError(f"task_mode must be 'research' or 'shopping', got {task_mode!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if isinstance(backend, str):  # a kind by name, e.g. backend="elasticsearch"
            backend_kind, backend = backend, None
        if backend is None and backend_kind == "elasticsearch":
            backend = shared_backend(snapshot, backend_kind, es_url=es_url)
        if backend is None:
            if snapshot is None:
                raise ValueError(
                    "ProductResearchEnv needs snapshot=<snapshot directory> or backend=<CatalogBackend>"
                )
            backend = shared_backend(snapshot, backend_kind)
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        self.backend = backend
        self.snapshot_id: str = getattr(backend, "snapshot_id", "unknown")
        self.task_mode: TaskMode = task_mode
        self.web = self._resolve_web(web)
        self.tasks = self._resolve_tasks(tasks, split)
        if task_mode == "shopping" and self.tasks is None:
            raise ValueError(
                "shopping mode needs tasks=<ShoppingBench JSONL file, directory or task set>; "
                "e.g. tasks='../shared/data/shoppingbench/synthesize_web_simpleqa_test.jsonl'"
            )
        if supervisor is not None and not isinstance(supervisor, Supervisor):
            raise TypeError("supervisor must implement check_plan, check_tool_call and check_answer")
        self.supervisor: Supervisor = supervisor or RuleBasedSupervisor()
        self.reward_fn = self._resolve_reward(reward, self._raw_records())
        self.max_steps = max_steps
        self.limits = RevisionLimits(plan=plan_revisions, report=report_revisions)
        self.min_products = min_products
        self.page_size = page_size
        self._subscribers: list[Callable[[EnvEvent], None]] = [on_event] if on_event is not None else []
        self.info_timings = info_timings
        self.info_messages = info_messages
        self.render_mode = render_mode
        self._init_per_call(plan_mode, max_tool_result_chars, tool_result_fields)
        self._toolsets: dict[str, ToolRegistry] = {}
        self.registry = self._toolset(task_mode)
        self.action_space = AgentActionSpace(self.registry.names)
        self.observation_space = TextSpace()
        self._task: ResearchTask | ShoppingTask | None = None
        self._messages: list[dict[str, Any]] = []
        self._last_observation = ""
        self._budget = ObservationBudget()
        self._replaced_chars = 0

    # -- construction helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _resolve_web(web: Any) -> WebToolProvider | None:
        if web is None:
            return None
        if isinstance(web, WebToolProvider):
            return web
        return shared_web_tools(web)

    @staticmethod
    def _resolve_tasks(tasks: Any, split: str | None) -> TaskSet | None:
        if tasks is None:
            return None
        if isinstance(tasks, TaskSet):
            taskset = tasks
        elif isinstance(tasks, (str, Path)):
            taskset = shared_tasks(tasks)
        else:
            taskset = TaskSet(parse_task(t) for t in tasks)
        if split is not None:
            has_splits = any(t.split is not None for t in taskset)
            if not has_splits:
                raise ValueError(
                    f"split={split!r} was asked for, but the tasks carry no split (use TaskSet.with_splits)"
                )
            taskset = taskset.split(split)  # type: ignore[arg-type]
        if len(taskset) == 0:
            raise ValueError("the task set is empty" + (f" for split {split!r}" if split else ""))
        return taskset

    def _raw_records(self) -> dict[str, dict[str, Any]]:
        """Raw ShoppingBench records the task set carries (web targets), for the exact scoring mode."""
        if self.tasks is None:
            return {}
        return records_from_tasks([t for t in self.tasks if isinstance(t, ShoppingTask)])

    @staticmethod
    def _resolve_reward(reward: Any, records: Mapping[str, dict[str, Any]] | None = None) -> RewardFunction:
        lookup = records.get if records else None
        if reward is None:
            return CompositeReward(records=lookup)
        if isinstance(reward, RewardConfig):
            return CompositeReward(reward, records=lookup)
        if isinstance(reward, Mapping):
            return CompositeReward(RewardConfig.model_validate(dict(reward)), records=lookup)
        if callable(reward):
            return reward
        raise TypeError("reward must be a RewardFunction, a RewardConfig or a dict of RewardConfig fields")

    def _toolset(self, kind: str) -> ToolRegistry:
        if kind not in self._toolsets:
            self._toolsets[kind] = self._with_plan_tool(
                build_toolset(
                    self.backend,
                    task_kind=kind,  # type: ignore[arg-type]
                    web=self.web,
                    page_size=self.page_size,
                )
            )
        return self._toolsets[kind]

    @property
    def cache_namespace(self) -> str | None:
        return self.web.cache_namespace if self.web is not None else None

    @property
    def task(self) -> ResearchTask | ShoppingTask | None:
        return self._task

    # -- reset --------------------------------------------------------------------------------------------------

    def _choose_task(self, options: Mapping[str, Any]) -> ResearchTask | ShoppingTask:
        if not isinstance(options, Mapping):
            raise TypeError(
                f"reset(options=...) must be a dict such as {{'task_id': ...}}, got {type(options).__name__}"
            )
        if options.get("split") is not None and self.tasks is None:
            raise ValueError(
                f"options['split']={options['split']!r} needs a task set (tasks=...); without one the task is "
                "generated from the catalog and has no split"
            )
        if options.get("task") is not None:
            return parse_task(options["task"])
        if options.get("task_id") is not None:
            if self.tasks is None:
                raise ValueError("options['task_id'] needs a task set (tasks=...)")
            return self.tasks.get(str(options["task_id"]))
        if self.tasks is not None:
            pool = self.tasks.split(options["split"]) if options.get("split") else self.tasks
            return pool.sample(self.np_random)
        return research_task(self.backend, self.np_random, min_products=self.min_products)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task = self._choose_task({} if options is None else options)
        self._task = task
        self.registry = self._toolset(task.kind)
        self._machine = PhaseMachine(self.limits)
        self._start_per_call()
        self._ctx = SupervisorContext(task=task, backend=self.backend)
        self._steps = 0
        self._actions = 0
        self._malformed = 0
        self._invalid_actions = 0
        self._tool_calls = 0
        self._internal_errors = 0
        self._text_only_turns = 0
        self._replaced_chars = 0
        self._error_counts: Counter[str] = Counter()
        self._tool_counts: Counter[str] = Counter()
        self._text_call_formats: Counter[str] = Counter()
        self._final_answer: FinalAnswer | None = None
        self._over = False
        self._events: list[EnvEvent] = []
        opening = task_message(task)
        self._messages = [
            {
                "role": "system",
                "content": system_prompt(task, self.registry.names, self.snapshot_id, self.plan_mode),
            },
            {"role": "user", "content": opening},
        ]
        self._emit(
            EnvEvent(
                step=0,
                kind="reset",
                role="user_agent",
                message=self._messages[1],
                data={"task_id": task.task_id},
            )
        )
        self._last_observation = opening
        info = self._base_info()
        info.update(
            observation=opening,
            messages=list(self._messages),
            tools=self.registry.schemas(),
            tool_access={name: self.registry.get(name).access for name in self.registry.names},
            task=task.model_dump(mode="json"),
            catalog_snapshot=self.snapshot_id,
            cache_namespace=self.cache_namespace,
            env_version=ENV_VERSION,
            task_mode=self.task_mode,
        )
        return opening, info

    async def areset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """``reset`` for asyncio callers (runs in a worker thread; one call at a time per env)."""
        return await asyncio.to_thread(self.reset, seed=seed, options=options)

    # -- step ---------------------------------------------------------------------------------------------------

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """One agent turn: parse it, run its tool calls (or check its plan), add the supervisor's feedback, and
        score the episode when it ends. A bad turn is an error observation, never an exception.

        The pieces, in order: :meth:`_record_assistant`, then :meth:`_invalid_turn` or :meth:`_valid_turn`,
        :meth:`_emit_feedback`, :meth:`_step_result`; a step after the episode ended is :meth:`_step_after_end`.
        """
        if self._task is None:
            raise ResetNeeded("call reset() before step()")
        self._events = []
        if self._over:
            return self._step_after_end()
        self._steps += 1
        self._actions += 1
        started = time.perf_counter()
        self._budget = ObservationBudget()
        parsed = parse_action(action, step=self._steps)
        assistant = self._record_assistant(parsed, started)
        turn = _Turn()
        has_text = bool(parsed.content and parsed.content.strip())
        if parsed.error is None and not has_text and not parsed.calls:
            parsed.error = "the turn is empty: write a plan, call a tool or submit your final answer"
        if parsed.error is not None:
            self._invalid_turn(parsed.error, turn)
        else:
            self._valid_turn(parsed, has_text, turn)
        feedback = self._emit_feedback(turn.verdicts)
        if feedback:
            turn.messages.append(feedback)
        return self._step_result(assistant, turn)

    def _step_after_end(self) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """A step after the episode ended: an ``episode_over`` error, no reward, the same end flags."""
        text = f"{ENV_MARKER} the episode is over; call reset() to start a new one."
        self._last_observation = text
        info = self._base_info()
        info["new_messages"] = []
        info["step_errors"] = [{"kind": "episode_over", "error": text}]
        return text, 0.0, bool(self._machine.done), not self._machine.done, info

    def _record_assistant(self, parsed: ParsedAction, started: float) -> dict[str, Any]:
        """Count the turn's repairs and text-call markup, append its assistant message and emit it."""
        self._replaced_chars += parsed.replaced_chars
        if parsed.text_call_format is not None:
            self._text_call_formats[parsed.text_call_format] += 1
        assistant = parsed.assistant_message()
        self._messages.append(assistant)
        self._emit(
            EnvEvent(
                step=self._steps,
                kind="assistant",
                role="research_agent",
                message=assistant,
                data={"form": parsed.form, **_text_form(parsed.text_call_format)},
                timing_ms=(time.perf_counter() - started) * 1000,
            )
        )
        return assistant

    def _invalid_turn(self, error: str, turn: _Turn) -> None:
        """A turn that could not be parsed (or was empty): counted as malformed and answered with the error."""
        self._malformed += 1
        self._invalid_actions += 1
        self._error_counts["invalid_action"] += 1
        turn.errors.append({"kind": "invalid_action", "error": error})
        turn.messages.append(self._env_message(f"invalid action: {error}"))

    def _valid_turn(self, parsed: ParsedAction, has_text: bool, turn: _Turn) -> None:
        """A parsed turn: its text may be the plan (plan_mode "turn"); a turn without calls gets a note naming
        the final tool; each call runs in order; a reminder follows when research starts before the plan."""
        assert self._task is not None
        plan_verdict = self._plan_turn(parsed.content if has_text else None)
        if plan_verdict is not None:
            turn.verdicts.append(("plan", plan_verdict))
        elif not parsed.calls:
            self._text_only_turns += 1
            turn.messages.append(self._env_message(self._no_tool_note(FINAL_TOOLS[self._task.kind])))
        self._run_calls(parsed.calls, turn)
        reminder = self._plan_reminder([call.name for call in parsed.calls])
        if reminder:
            turn.messages.append(self._env_message(reminder))

    def _run_calls(self, calls: Sequence[ParsedCall], turn: _Turn) -> None:
        """Run the turn's tool calls; the turn counts once as invalid when any call failed and once as malformed
        when any failure was a format error (bad JSON, unknown tool, wrong arguments)."""
        malformed = failed = False
        for call in calls:
            message, outcome, verdict = self._run_call(call)
            turn.messages.append(message)
            if verdict is not None:
                turn.verdicts.append((f"tool call #{self._tool_calls} ({outcome.name})", verdict))
            if outcome.kind_of_error is not None:
                failed = True
                malformed = malformed or outcome.kind_of_error in _FORMAT_ERRORS
                turn.errors.append(
                    {"kind": outcome.kind_of_error, "tool": outcome.name, "error": outcome.error}
                )
        if failed:
            self._invalid_actions += 1
        if malformed:
            self._malformed += 1

    def _emit_feedback(self, verdicts: list[tuple[str, Verdict]]) -> dict[str, Any] | None:
        """The supervisor's feedback message on this step's verdicts (None when it has nothing to say), emitted."""
        started = time.perf_counter()
        feedback = self._feedback(verdicts)
        if feedback:
            self._emit(
                EnvEvent(
                    step=self._steps,
                    kind="feedback",
                    role="supervisor",
                    message=feedback,
                    timing_ms=(time.perf_counter() - started) * 1000,
                )
            )
        return feedback

    def _step_result(
        self, assistant: dict[str, Any], turn: _Turn
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Keep the step's messages, decide termination or truncation, score an ended episode, build the info."""
        self._messages.extend(turn.messages)
        self._replaced_chars += self._budget.replaced
        terminated = self._machine.done
        truncated = not terminated and self._steps >= self.max_steps
        reward = 0.0
        info = self._base_info()
        info["new_messages"] = [assistant, *turn.messages]
        info["step_errors"] = turn.errors
        info["verdicts"] = [{"where": where, **_verdict_data(v)} for where, v in turn.verdicts]
        if terminated or truncated:
            self._over = True
            reward = self._end_episode(info, truncated)
        observation = "\n\n".join(_render_message(m) for m in turn.messages)
        self._last_observation = observation
        info["events"] = [e.as_info(self.info_timings) for e in self._events]
        if self.render_mode == "human":
            self.render()
        return observation, reward, terminated, truncated, info

    async def astep(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """``step`` for asyncio callers (runs in a worker thread; one call at a time per env)."""
        return await asyncio.to_thread(self.step, action)

    # -- pieces of a step ---------------------------------------------------------------------------------------

    def _check_plan(self, plan: str | None) -> Verdict:
        started = time.perf_counter()
        if plan is not None:
            self._ctx.plan = plan
        verdict = self._safely("check_plan", lambda: self.supervisor.check_plan(plan, self._ctx), "plan")
        self._machine.plan_checked(verdict.passed)
        self._emit_verdict("plan", verdict, started)
        return verdict

    def _run_call(self, call: ParsedCall) -> tuple[dict[str, Any], _Outcome, Verdict | None]:
        started = time.perf_counter()
        if self._machine.done:
            outcome = ToolOutcome(
                name=call.name,
                ok=False,
                content=json.dumps(
                    {"error": "not executed: the final answer was accepted earlier in this turn"}
                ),
                error="not executed",
                error_kind="not_executed",
            )
            wrapped = _Outcome(outcome, counts=False)
            return self._tool_message(call, outcome, started), wrapped, None
        self._tool_calls += 1
        self._tool_counts[call.name] += 1
        if call.error is not None:
            outcome = ToolRegistry.fail(call.name, None, "malformed_call", call.error)
        else:
            outcome = self.registry.call(call.name, call.arguments)
        plan_verdict: Verdict | None = None
        if self._is_plan_call(outcome):
            outcome, plan_verdict = self._plan_call(outcome)
        if outcome.error_kind is not None:
            self._error_counts[outcome.error_kind] += 1
            if outcome.error_kind == "internal_error":
                self._internal_errors += 1
        if self._is_plan_call(outcome):  # a plan is checked as a plan, not as a research call
            return self._tool_message(call, outcome, started), _Outcome(outcome), plan_verdict
        record = ToolCallRecord(
            index=self._tool_calls,
            step=self._steps,
            call_id=call.call_id,
            name=outcome.name,
            arguments=outcome.arguments,
            ok=outcome.ok,
            error_kind=outcome.error_kind,
            error=outcome.error,
            result=outcome.result,
        )
        verdict: Verdict | None = None
        if outcome.ok and outcome.access == "write":
            outcome, verdict = self._final_answer_call(outcome)
        else:
            check_started = time.perf_counter()
            verdict = self._safely(
                "check_tool_call", lambda: self.supervisor.check_tool_call(record, self._ctx), "tool_call"
            )
            message = self._tool_message(call, outcome, started)
            self._emit_verdict(f"tool call #{record.index}", verdict, check_started)
            self._remember(record)
            return message, _Outcome(outcome), verdict
        self._remember(record)
        return self._tool_message(call, outcome, started), _Outcome(outcome), verdict

    def _final_answer_call(self, outcome: ToolOutcome) -> tuple[ToolOutcome, Verdict]:
        started = time.perf_counter()
        receipt = outcome.result
        if isinstance(receipt, ReportReceipt):
            answer = FinalAnswer(kind="report", report=str((outcome.arguments or {}).get("report", "")))
        else:
            assert isinstance(receipt, RecommendationReceipt)
            answer = FinalAnswer(kind="recommendation", product_ids=list(receipt.product_ids))
        self._final_answer = answer
        self._machine.answer_submitted()
        verdict = self._safely(
            "check_answer", lambda: self.supervisor.check_answer(answer, self._ctx), "answer"
        )
        self._machine.answer_checked(verdict.passed)
        status: VerdictStatus
        if verdict.passed:
            status, note = "accepted", "final answer accepted; the episode is over"
        elif self._machine.done:
            status, note = "rejected", "rejected and no revisions are left; the episode is over"
        else:
            status, note = "rejected", "see the supervisor's critique, revise and submit again"
        receipt = receipt.model_copy(
            update={
                "verdict": AnswerVerdict(
                    status=status,
                    failed_checks=sorted({c.check for c in verdict.critiques}),
                    revisions_left=self._machine.report_revisions_left,
                    note=note,
                )
            }
        )
        outcome = outcome.model_copy(update={"content": receipt.to_content(), "result": receipt})
        self._emit_verdict("final answer", verdict, started)
        return outcome, verdict

    def _remember(self, record: ToolCallRecord) -> None:
        self._ctx.record_call(record)
        result = record.result
        if isinstance(result, ProductSearchResult):
            self._ctx.seen_product_ids.update(hit.id for hit in result.hits)
        elif isinstance(result, VisitProductResult):
            self._ctx.seen_product_ids.update(p.id for p in result.products)
        elif isinstance(result, WebCallResult):
            self._ctx.seen_urls.update(result.urls())

    def _tool_message(self, call: ParsedCall, outcome: ToolOutcome, started: float) -> dict[str, Any]:
        content = self._budget.tool_content(self._observed(outcome))
        message = {"role": "tool", "tool_call_id": call.call_id, "name": outcome.name, "content": content}
        self._emit(
            EnvEvent(
                step=self._steps,
                kind="tool_result",
                role="tool",
                message=message,
                product_ids=_shown_product_ids(outcome),
                tool_result={
                    "call_id": call.call_id,
                    "name": outcome.name,
                    "ok": outcome.ok,
                    "error_kind": outcome.error_kind,
                    "access": outcome.access,
                },
                timing_ms=(time.perf_counter() - started) * 1000,
            )
        )
        return message

    def _safely(self, what: str, check: Callable[[], Verdict], kind: str) -> Verdict:
        """Run a supervisor check; a supervisor failure becomes a failed verdict and an internal error."""
        try:
            return check()
        except Exception as exc:  # a pluggable (e.g. LLM) supervisor may fail; the episode must go on
            self._internal_errors += 1
            self._error_counts["supervisor_error"] += 1
            critique = Critique(
                check="supervisor_error",
                message=f"the supervisor could not run {what} ({type(exc).__name__}: {exc}).",
                where=what,
                fix="Continue; the check will run again on your next attempt.",
            )
            return Verdict.of(kind, [what], [critique])  # type: ignore[arg-type]

    def _feedback(self, verdicts: list[tuple[str, Verdict]]) -> dict[str, Any] | None:
        lines: list[str] = []
        for where, verdict in verdicts:
            if verdict.kind == "plan":
                if verdict.passed:
                    lines.append("Plan accepted: go ahead with the research.")
                    continue
                if self._machine.phase is Phase.plan:
                    left = self._machine.plan_revisions_left
                    lines.append(
                        f"Plan rejected ({left} revision{'s' if left != 1 else ''} left): revise your plan."
                    )
                else:
                    lines.append(
                        "Plan rejected and the plan revision limit is reached: continue with the research."
                    )
            elif verdict.kind == "answer":
                if verdict.passed:
                    lines.append("Final answer accepted.")
                    continue
                left = self._machine.report_revisions_left
                if self._machine.done:
                    lines.append("Final answer rejected; no revisions are left and the episode is over.")
                else:
                    lines.append(f"Final answer rejected ({left} revision{'s' if left != 1 else ''} left):")
            elif verdict.passed:
                continue
            else:
                lines.append(f"About {where}:")
            lines.extend(f"- {c.render()}" for c in verdict.critiques)
        if not lines:
            return None
        content = self._budget.feedback(SUPERVISOR_MARKER + " " + "\n".join(lines))
        return {"role": "user", "name": "supervisor", "content": content}

    def _env_message(self, text: str) -> dict[str, Any]:
        content = self._budget.feedback(f"{ENV_MARKER} {text}")
        message = {"role": "user", "name": "environment", "content": content}
        self._emit(EnvEvent(step=self._steps, kind="environment", role="environment", message=message))
        return message

    def _emit_verdict(self, where: str, verdict: Verdict, started: float) -> None:
        self._emit(
            EnvEvent(
                step=self._steps,
                kind="supervisor",
                role="supervisor",
                verdict={"where": where, **_verdict_data(verdict)},
                timing_ms=(time.perf_counter() - started) * 1000,
            )
        )

    def subscribe(self, callback: Callable[[EnvEvent], None]) -> Callable[[], None]:
        """Call ``callback`` with every event from now on (the recorder's hook); returns the unsubscribe
        function. Subscribers run in order, inside ``reset``/``step``; an exception in one propagates."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: EnvEvent) -> None:
        self._events.append(event)
        for callback in list(self._subscribers):
            callback(event)

    # -- end of episode -----------------------------------------------------------------------------------------

    def _finish(self, info: dict[str, Any], truncated: bool) -> float:
        assert self._task is not None
        answer = self._final_answer
        summary = EpisodeSummary(
            task=self._task,
            report=answer.report if answer is not None else None,
            recommended=list(answer.product_ids) if answer is not None else [],
            accepted=self._machine.answer_accepted is True,
            actions=self._actions,
            valid_actions=self._actions - self._malformed,
            truncated=truncated,
        )
        started = time.perf_counter()
        try:
            breakdown = self.reward_fn(summary, self.backend)
        except Exception as exc:  # a pluggable reward may fail; report it instead of losing the episode
            self._internal_errors += 1
            info["reward_error"] = f"{type(exc).__name__}: {exc}"
            info.update(
                reward_components={}, reward_weights={}, metrics={}, final_answer=None, accepted=False
            )
            info["internal_errors"] = self._internal_errors
            return 0.0
        info["reward_components"] = dict(breakdown.components)
        info["reward_weights"] = dict(breakdown.weights)
        info["metrics"] = _plain(breakdown.metrics)
        info["final_answer"] = answer.model_dump() if answer is not None else None
        info["accepted"] = summary.accepted
        self._emit(
            EnvEvent(
                step=self._steps,
                kind="episode_end",
                role="environment",
                data={
                    "reward": breakdown.total,
                    "components": dict(breakdown.components),
                    "accepted": summary.accepted,
                    "truncated": truncated,
                },
                timing_ms=(time.perf_counter() - started) * 1000,
            )
        )
        return float(breakdown.total)

    def _base_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "step": self._steps,
            "phase": self._machine.phase.value,
            "task_id": self._task.task_id if self._task else None,
            "invalid_actions": self._invalid_actions,
            "malformed_actions": self._malformed,
            "tool_calls": self._tool_calls,
            "tool_counts": dict(self._tool_counts),
            "error_counts": dict(self._error_counts),
            "internal_errors": self._internal_errors,
            "text_only_turns": self._text_only_turns,
            "text_tool_calls": dict(self._text_call_formats),
            "replaced_chars": self._replaced_chars,
            "supervisor": self._machine.snapshot(),
        }
        if self.info_messages:
            info["messages"] = list(self._messages)
        return info

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The whole chat so far (OpenAI format); the env's own list: read it, do not change it."""
        return self._messages

    # -- rendering ----------------------------------------------------------------------------------------------

    def transcript(self) -> str:
        """The whole chat so far as readable text."""
        return "\n\n".join(
            f"== {m.get('name') or m['role']} ==\n{_render_message(m)}" for m in self._messages
        )

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.transcript()
        if self.render_mode == "human":
            print(self._last_observation)
        return None

    def close(self) -> None:
        """Nothing to release per env: the catalog and web tool are shared by the process."""


@dataclass
class _Turn:
    """What one step adds: the messages after the assistant's, the step errors, and the verdicts (where, verdict)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[tuple[str, Verdict]] = field(default_factory=list)


class _Outcome:
    """A tool outcome plus whether its failure counts against the agent (skipped calls do not)."""

    def __init__(self, outcome: ToolOutcome, counts: bool = True) -> None:
        self.outcome = outcome
        self.name = outcome.name
        self.error = outcome.error
        self.kind_of_error = outcome.error_kind if (counts and not outcome.ok) else None


def _shown_product_ids(outcome: ToolOutcome) -> list[str]:
    """Catalog ids a successful search or visit showed, from the tool's typed result."""
    result = outcome.result
    if isinstance(result, ProductSearchResult):
        return [hit.id for hit in result.hits]
    if isinstance(result, VisitProductResult):
        return [p.id for p in result.products]
    return []


def _text_form(form: str | None) -> dict[str, str]:
    """The assistant event's note of the markup its tool calls were written in, when they came as text."""
    return {} if form is None else {"text_call_format": form}


def _verdict_data(verdict: Verdict) -> dict[str, Any]:
    """A verdict as the step info and the trace keep it; an LLM supervisor's part (its raw replies, the note
    saying why a reply was not used, attempts, finish reason) is kept too, so unusable replies can be read."""
    data: dict[str, Any] = {
        "kind": verdict.kind,
        "passed": verdict.passed,
        "critiques": [c.model_dump() for c in verdict.critiques],
    }
    llm = verdict.details.get("llm")
    if isinstance(llm, dict):
        data["llm"] = _plain(llm)
    return data


def _render_message(message: dict[str, Any]) -> str:
    if message.get("role") == "tool":
        return f"[tool {message.get('name')} {message.get('tool_call_id')}]\n{message.get('content')}"
    if message.get("role") == "assistant":
        parts = [message.get("content") or ""]
        for call in message.get("tool_calls") or []:
            fn = call.get("function", {})
            parts.append(f"-> {fn.get('name')}({fn.get('arguments')}) [{call.get('id')}]")
        return "\n".join(p for p in parts if p)
    return str(message.get("content") or "")


def _plain(value: Any) -> Any:
    """JSON-safe copy of metric values (pydantic models and Decimals become plain data)."""
    return json.loads(json.dumps(value, default=str))
