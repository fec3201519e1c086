"""The LLM user agent: the behaviour history goes to an LLM, which infers persona and intent and writes the task.

The model answers one JSON object (query, persona, hard constraints, rubric). The reply is parsed strictly into
:class:`TaskDraft` (pydantic, unknown fields refused), then checked the way the template writer checks its own
output: the rubric has exactly the four RACE dimensions with weights summing to 1, a budget names its currency,
and the constraints leave at least ``min_products + 1`` catalog products (``feasible_products``). A reply that
fails is answered with the error and asked again (``max_attempts`` calls in all); when it still fails, or the
endpoint fails, the template writer (:func:`~sandbox.tasks.template_writer.write_task`) writes the task for the
same history and the reason is kept in ``task.meta["fallback_reason"]``. So a flaky model never loses a task, and
the task set says which tasks the model really wrote.

:class:`LLMTaskWriter` is this writer as a strategy of the one generator (:mod:`sandbox.tasks.generator`,
``agenerate_tasks(backend, n, seed, writer=LLMTaskWriter(client))``): the generator draws the histories, the
writer writes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.llm.client import LLMClient, LLMError
from harness.llm.replies import json_object
from sandbox.catalog.backend import CatalogBackend
from sandbox.tasks.feasibility import feasible_products
from sandbox.tasks.history import BehaviourHistory, TaskDraw
from sandbox.tasks.models import RUBRIC_DIMENSIONS, HardConstraints, Persona, ResearchTask, Rubric
from sandbox.tasks.template_writer import write_task

GENERATOR = "user-agent-llm-v1"

SYSTEM = (
    "You are a user simulator for a product research benchmark. From a shopper's behaviour history (products "
    "they viewed and bought in a real catalog) you infer who they are and what they want next, and you write "
    "the research request they would send to a shopping assistant. Answer with ONE JSON object and nothing "
    "else, with exactly these fields:\n"
    '{"query": "<the request, first person, 1-3 sentences>",\n'
    ' "persona": {"description": "<who the shopper is>", "preferences": ["<soft preference>", ...]},\n'
    ' "intent": "<what they want to buy next and why, one sentence>",\n'
    ' "constraints": {"budget_max": <number>, "currency": "<ISO code>", "category": "<category path>", '
    '"brands": ["<brand>"] (optional), "must_have": ["<term>"] (optional), "min_rating": <0-5> (optional)},\n'
    ' "rubric": {"dimensions": [{"name": "comprehensiveness" | "depth" | "instruction_following" | '
    '"readability", "weight": <0-1>, "criteria": [{"text": "<what a good report does>", "weight": <number '
    '> 0>, "keywords": ["<word that shows it>", ...]}, ...]}, ...]}}\n'
    "Rules: the rubric has exactly those four dimensions, each with at least one criterion, and their weights "
    "sum to 1. Hard constraints must be satisfiable by several catalog products like the ones in the history: "
    "use the category path exactly as given, the history's currency, and a budget at or above the prices the "
    "shopper usually pays."
)


class TaskDraft(BaseModel):
    """What the LLM must answer: the parts of a :class:`ResearchTask` it writes (ids and meta are ours)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=10)
    persona: Persona
    intent: str = ""
    constraints: HardConstraints
    rubric: Rubric


class DraftRejected(ValueError):
    """The reply is not a usable task; the message names the field and what was expected."""


def history_prompt(history: BehaviourHistory, min_products: int) -> str:
    """The user message: the history as the LLM sees it (ids, titles, brands, prices, events)."""
    lines = [
        f"Category path: {history.category}",
        f"Currency: {history.currency or 'unknown'}",
        f"Price band of the history: {history.price_low} - {history.price_high}",
        "",
        "Behaviour history (most important first):",
    ]
    for item in history.items:
        brand = f" | brand {item.brand}" if item.brand else ""
        lines.append(
            f"- {item.event}: [{item.product_id}] {item.title}{brand} | {item.price} {item.currency or ''}".rstrip()
        )
    lines += ["", f"The request must ask to compare at least {min_products} products. Write the JSON object."]
    return "\n".join(lines)


def parse_draft(text: str | None) -> TaskDraft:
    """Strictly parse a reply into a :class:`TaskDraft` (a ```json fence around it is tolerated)."""
    try:
        data = json_object(text)
    except ValueError as exc:
        raise DraftRejected(str(exc)) from None
    try:
        return TaskDraft.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "<object>"
        raise DraftRejected(f"field {where}: {first['msg']}") from None


def check_draft(draft: TaskDraft, backend: CatalogBackend, min_products: int) -> None:
    """The checks the template writer guarantees by construction: four dimensions, currency, feasibility."""
    names = [d.name for d in draft.rubric.dimensions]
    if sorted(names) != sorted(RUBRIC_DIMENSIONS):
        raise DraftRejected(
            f"field rubric.dimensions: expected exactly {list(RUBRIC_DIMENSIONS)}, got {names}"
        )
    constraints = draft.constraints
    if constraints.is_empty():
        raise DraftRejected(
            "field constraints: at least one hard constraint (budget, category, ...) is needed"
        )
    if (
        constraints.budget_max is not None or constraints.budget_min is not None
    ) and not constraints.currency:
        raise DraftRejected("field constraints.currency: a budget needs its currency (ISO code)")
    found = len(feasible_products(backend, constraints))
    if found < min_products + 1:
        raise DraftRejected(
            f"field constraints: only {found} catalog products meet them, at least {min_products + 1} are "
            "needed; widen the budget, use the category path as given or drop a brand/term"
        )


async def write_task_llm(client: LLMClient, draw: TaskDraw, *, max_attempts: int = 3) -> ResearchTask:
    """The LLM's task for ``draw.history``, or the template's with ``meta["fallback_reason"]`` (see module doc).

    Raises :class:`~sandbox.tasks.template_writer.TaskInfeasible` only when the fallback finds no feasible task.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts: expected >= 1, got {max_attempts}")
    backend, history, persona, min_products = draw.backend, draw.history, draw.persona, draw.min_products
    base: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": history_prompt(history, min_products)},
    ]
    conversation = list(base)
    reason = ""
    attempts = 0
    for _ in range(max_attempts):
        attempts += 1
        try:
            result = await client.chat(conversation)
        except LLMError as exc:
            reason = f"LLM request failed ({exc.reason}: {exc})"
            break
        reply = result.content
        try:
            draft = parse_draft(reply)
            check_draft(draft, backend, min_products)
        except DraftRejected as exc:
            # a reply stopped at max_tokens is not a model that cannot write JSON: say which it was
            reason = f"truncated at max_tokens: {exc}" if result.truncated else str(exc)
            conversation = [
                *conversation,
                {"role": "assistant", "content": reply or ""},
                {
                    "role": "user",
                    "content": f"Your reply was not valid: {exc}. Answer with the corrected JSON object only.",
                },
            ]
            continue
        return ResearchTask(
            task_id=draw.task_id,
            query=draft.query,
            persona=draft.persona,
            constraints=draft.constraints,
            rubric=draft.rubric,
            min_products=min_products,
            meta={
                "generator": GENERATOR,
                "writer": f"openai:{client.config.model}",
                "llm_attempts": attempts,
                "intent": draft.intent,
                "history": history.model_dump(mode="json"),
                "persona": persona.model_dump(mode="json"),
                "snapshot": getattr(backend, "snapshot_id", None),
            },
        )
    task = write_task(draw)
    meta = dict(task.meta)
    meta.update(
        writer="template-fallback",
        fallback_from=f"openai:{client.config.model}",
        fallback_reason=reason,
        llm_attempts=attempts,
    )
    return task.model_copy(update={"meta": meta})


class LLMTaskWriter:
    """:func:`write_task_llm` as an asynchronous writer of the generator
    (:class:`sandbox.tasks.generator.AsyncTaskWriter`); the caller owns and closes ``client``."""

    def __init__(self, client: LLMClient, *, max_attempts: int = 3) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts: expected >= 1, got {max_attempts}")
        self.client = client
        self.max_attempts = max_attempts
        self.name = f"openai:{client.config.model}"

    async def write(self, draw: TaskDraw) -> ResearchTask:
        return await write_task_llm(self.client, draw, max_attempts=self.max_attempts)
