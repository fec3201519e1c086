"""The LLM rewriter: each reflection of an internalized sample rewritten as the agent's own coherent thought.

The offline rewriter (:func:`harness.distill.lessons.reflect`) is deterministic but formulaic. This one asks a
model, through :class:`harness.llm.LLMClient`, to turn each reflection (with the request, the recent turns and
the action that follows it) into first-person reasoning, and accepts a rewrite only when:

* it is non-empty and at most :data:`MAX_REWRITE_CHARS` long;
* every fact the critique quoted (:func:`harness.distill.lessons.anchors`: quoted requirements, prices,
  product ids) appears in it verbatim;
* it mentions no supervisor, reviewer or critique, no env marker, and no feedback message of the trace;
* it is not an **echo of its own prompt** (:func:`echo_problem`): a small model asked to rewrite often repeats
  the instructions, the request and the recent turns back, sometimes with the prompt's ``<request>`` tags;
* it holds no **markup-escaped text** (``&lt;``, ``&quot;``, ``&#39;``, ...) that the prompt did not hold
  (:func:`escape_problem`): a server or model that HTML-escapes its output would otherwise put ``&lt;`` into
  training data (Gemma 3 270M behind llama-cpp-python did both at once: an escaped echo of its prompt).

A rejected rewrite is answered with the reason and asked again, up to ``max_attempts`` calls; an echo or escaped
text is not asked again (a model that repeats its prompt does so again, on a prompt twice as long). After that,
or when the endpoint fails for good, the reflection keeps its offline text and the sample's ``meta.rewrites``
records why (``prompt_echo: ...``, ``markup_escaped: ...``, ``no usable rewrite after ...``, ``llm_<reason>``). Accepted rewrites are cached under the sha256 of the full request (model, sampling, messages), so a rerun
makes no call.

How reflections are found: the sample is internalized with a reflector that leaves a unique placeholder per
reflection and remembers its lessons; each placeholder is then replaced by its rewrite (or offline text). With
offline text everywhere the result is exactly :func:`~harness.distill.internalize.internalize`'s.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from harness.defaults import DEFAULT_CONCURRENCY
from harness.distill.internalize import Internalized, internalize
from harness.distill.lessons import Lesson, anchors, reflect, uncite
from harness.judge.cache import JudgeCache, cache_key
from harness.llm import LLMClient, LLMError
from sandbox.recorder.schema import EpisodeTrace

MAX_REWRITE_CHARS = 4000
CACHE_KIND = "distill_rewrite_v1"
#: Words that give away that someone else found the mistake (checked case-insensitively).
LEAK_WORDS = ("supervisor", "reviewer", "critique", "[environment]", "[supervisor]")
_PLACEHOLDER = "\u27e6reflection:{}\u27e7"
_FENCE = re.compile(r"^```[a-zA-Z]*\n(?P<body>.*)\n```$", re.DOTALL)
#: HTML/XML character references a rewrite must not hold unless its prompt did (named ones seen from models and
#: servers, and every numeric form).
ENTITY = re.compile(r"&(?:lt|gt|quot|amp|apos|nbsp|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
#: The prompt's section tags; a reply that holds one is repeating the prompt's layout.
PROMPT_TAGS = (
    "<request>",
    "</request>",
    "<context>",
    "</context>",
    "<action>",
    "</action>",
    "<notes>",
    "</notes>",
)
#: Words per shingle when measuring how much of a reply repeats its prompt.
ECHO_SHINGLE = 6
#: A reply whose shingles are at least this share copied from the prompt (notes excluded) is an echo.
MAX_ECHO_SHARE = 0.5
_WORD = re.compile(r"\w+")

SYSTEM_PROMPT = (
    "You write the private reasoning of a product research agent that works alone over a product catalog. "
    "You are given draft notes of what the agent realised before its next action. Rewrite them as the agent's "
    "own coherent first-person thinking that leads naturally to that action: the agent noticed the problem "
    "itself by re-checking its work. Reply with the reasoning text only."
)


class RewriteRecord(BaseModel):
    """What happened to one reflection (``message_index`` is the assistant turn that carries it)."""

    message_index: int
    status: Literal["rewritten", "fallback"]
    attempts: int = Field(description="LLM calls made (0 for a cache hit).")
    cached: bool = False
    reason: str | None = Field(default=None, description="Why the offline text was kept (fallback only).")


class _Slot(BaseModel):
    token: str
    lessons: list[Lesson]
    offline: str


def internalize_with_slots(trace: EpisodeTrace) -> tuple[Internalized, list[_Slot]]:
    """``internalize(trace)`` with a placeholder in place of each reflection, and the reflections' lessons."""
    slots: list[_Slot] = []

    def reflector(lessons: list[Lesson]) -> str:
        token = _PLACEHOLDER.format(len(slots))
        slots.append(_Slot(token=token, lessons=list(lessons), offline=reflect(lessons)))
        return token

    return internalize(trace, reflector=reflector), slots


def fill(done: Internalized, texts: dict[str, str]) -> Internalized:
    """A copy of ``done`` with each placeholder replaced by its text."""
    out = done.model_copy(deep=True)
    for message in out.sample.messages:
        value = message.get("reasoning_content")
        if isinstance(value, str):
            for token, text in texts.items():
                value = value.replace(token, text)
            message["reasoning_content"] = value
    return out


def check_rewrite(text: str, lessons: Sequence[Lesson], forbidden: Sequence[str] = ()) -> str | None:
    """Why ``text`` cannot replace the reflection of ``lessons``, or ``None`` when it can."""
    if not text.strip():
        return "the reply is empty"
    if len(text) > MAX_REWRITE_CHARS:
        return f"the reply has {len(text)} characters; keep it under {MAX_REWRITE_CHARS}"
    required = list(dict.fromkeys(a for lesson in lessons for a in anchors(lesson)))
    missing = [a for a in required if uncite(a) not in text]
    if missing:
        return "these facts are missing (they must appear verbatim): " + ", ".join(repr(a) for a in missing)
    folded = text.casefold()
    leaked = [w for w in LEAK_WORDS if w in folded]
    if leaked:
        return f"it mentions {leaked[0]!r}; the agent works alone and found the problem itself"
    verbatim = next((f for f in forbidden if len(f) >= 20 and f in text), None)
    if verbatim is not None:
        return f"it copies a review message verbatim ({verbatim[:60]!r}...); say it in the agent's own words"
    return None


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    return {tuple(words[i : i + ECHO_SHINGLE]) for i in range(len(words) - ECHO_SHINGLE + 1)}


def echo_problem(text: str, prompt_text: str, keep: Sequence[str] = ()) -> str | None:
    """Why ``text`` is an echo of ``prompt_text`` (the prompt without the notes being rewritten), or ``None``.

    An echo holds one of the prompt's section tags (escaped or not), or has at least :data:`MAX_ECHO_SHARE` of
    its :data:`ECHO_SHINGLE`-word shingles copied from the prompt. The facts in ``keep`` are cut out first: the
    rewrite must quote them, and a long quoted requirement is not an echo."""
    plain = html.unescape(text)
    folded = plain.casefold()
    tag = next((t for t in PROMPT_TAGS if t in folded), None)
    if tag is not None:
        return f"prompt_echo: the reply repeats the prompt's {tag} section instead of rewriting the notes"
    for fact in keep:
        plain = plain.replace(fact, " ")
    mine = _shingles(plain)
    if not mine:
        return None
    share = len(mine & _shingles(html.unescape(prompt_text))) / len(mine)
    if share >= MAX_ECHO_SHARE:
        return (
            f"prompt_echo: {share:.0%} of the reply repeats its own prompt (instructions, request or turns)"
        )
    return None


def escape_problem(text: str, source: str) -> str | None:
    """Why ``text`` holds markup-escaped characters that ``source`` (everything the model was shown) did not,
    or ``None``. A product title with a real ``&amp;`` in the catalog may be quoted as it is."""
    found = sorted({m.group(0) for m in ENTITY.finditer(text)} - set(ENTITY.findall(source)))
    if not found:
        return None
    return (
        f"markup_escaped: the reply holds HTML-escaped text ({', '.join(found[:4])}) that its prompt did not; "
        "it would put escaped markup into the training data"
    )


def prompt_problem(
    text: str, chat: Sequence[Mapping[str, Any]], slot_notes: str, keep: Sequence[str]
) -> str | None:
    """An echo of ``chat`` or escaped markup in ``text`` (see :func:`echo_problem`, :func:`escape_problem`):
    the problems that end the rewrite of a reflection at once, without asking again."""
    shown = "\n".join(str(m.get("content") or "") for m in chat)
    return escape_problem(text, shown) or echo_problem(text, shown.replace(slot_notes, " "), keep)


def _clip(text: Any, limit: int) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _render(message: dict[str, Any], limit: int = 300) -> str:
    role = message.get("role")
    if role == "tool":
        return f"tool {message.get('name')}: {_clip(message.get('content'), 300)}"
    parts = [_clip(message.get("content"), 400)] if message.get("content") else []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append(f"calls {function.get('name')}({_clip(function.get('arguments'), limit)})")
    return f"{role}: " + (" | ".join(parts) or "(empty)")


class LLMRewriter:
    """Rewrites the reflections of a trace's sample through one chat endpoint (see the module docstring)."""

    def __init__(
        self,
        client: LLMClient,
        *,
        cache: JudgeCache | None = None,
        max_attempts: int = 3,
        context_messages: int = 6,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.client = client
        self.cache = cache
        self.max_attempts = max_attempts
        self.context_messages = context_messages

    @property
    def name(self) -> str:
        return f"openai:{self.client.config.model}"

    def prompt(self, messages: list[dict[str, Any]], index: int, slot: _Slot) -> list[dict[str, Any]]:
        """The request for the reflection carried by ``messages[index]`` (other reflections in offline form)."""
        request = next((m.get("content") for m in messages if m.get("role") == "user"), "")
        start = max(2, index - self.context_messages)
        recent = "\n".join(_render(m) for m in messages[start:index]) or "(nothing yet)"
        action = dict(messages[index])
        action.pop("reasoning_content", None)
        facts = list(dict.fromkeys(a for lesson in slot.lessons for a in anchors(lesson)))
        rules = [
            'Write in the first person ("I"), as my own re-checking, not as something I was told.',
            "Never mention a supervisor, reviewer, critique, feedback or anyone else.",
            "Write product ids plainly, without [P:...] brackets.",
            "Reply with the reasoning only (a few sentences), no preamble.",
        ]
        if facts:
            rules.insert(2, "Keep each of these facts verbatim: " + ", ".join(repr(uncite(f)) for f in facts))
        user = (
            f"The request the agent is working on:\n<request>\n{_clip(request, 2000)}\n</request>\n\n"
            f"Recent turns (oldest first):\n<context>\n{recent}\n</context>\n\n"
            f"The agent's next action:\n<action>\n{_render(action, 1500)}\n</action>\n\n"
            f"Draft notes of what the agent realised before that action:\n<notes>\n{slot.offline}\n</notes>\n\n"
            "Rewrite the notes as the agent's coherent first-person reasoning leading to the action. Rules:\n"
            + "\n".join(f"- {rule}" for rule in rules)
        )
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]

    async def _rewrite(
        self, messages: list[dict[str, Any]], index: int, slot: _Slot, forbidden: Sequence[str]
    ) -> tuple[str, RewriteRecord]:
        chat = first = self.prompt(messages, index, slot)
        key = cache_key(
            {
                "kind": CACHE_KIND,
                "model": self.client.config.model,
                "sampling": self.client.config.sampling(),
                "messages": chat,
            }
        )
        keep = [uncite(a) for lesson in slot.lessons for a in anchors(lesson)]
        if self.cache is not None:
            hit = self.cache.get(key)
            if (
                hit is not None
                and check_rewrite(hit, slot.lessons, forbidden) is None
                and prompt_problem(hit, first, slot.offline, keep) is None
            ):
                return hit, RewriteRecord(message_index=index, status="rewritten", attempts=0, cached=True)
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                result = await self.client.chat(chat)
            except LLMError as exc:
                reason = f"llm_{exc.reason}: {exc}"
                return slot.offline, RewriteRecord(
                    message_index=index, status="fallback", attempts=attempt, reason=reason
                )
            text = uncite(_strip_fence(result.content or ""))
            final = prompt_problem(text, first, slot.offline, keep)  # the first prompt: not earlier replies
            if final is not None:
                return slot.offline, RewriteRecord(
                    message_index=index, status="fallback", attempts=attempt, reason=final
                )
            problem = check_rewrite(text, slot.lessons, forbidden)
            if problem is None:
                if self.cache is not None:
                    self.cache.put(key, text, kind=CACHE_KIND)
                return text, RewriteRecord(message_index=index, status="rewritten", attempts=attempt)
            reason = problem
            chat = chat + [
                {"role": "assistant", "content": result.content or ""},
                {
                    "role": "user",
                    "content": f"That rewrite cannot be used: {problem}. Write it again following every rule; "
                    "reply with the reasoning only.",
                },
            ]
        return slot.offline, RewriteRecord(
            message_index=index,
            status="fallback",
            attempts=self.max_attempts,
            reason=f"no usable rewrite after {self.max_attempts} attempt(s): {reason}",
        )

    async def rewrite(self, trace: EpisodeTrace) -> Internalized:
        """The internalized sample of ``trace`` with every reflection rewritten (or kept offline, with why)."""
        done, slots = internalize_with_slots(trace)
        offline = {slot.token: slot.offline for slot in slots}
        context = fill(done, offline).sample.messages
        texts: dict[str, str] = {}
        records: list[RewriteRecord] = []
        for slot in slots:
            index = next(
                i
                for i, m in enumerate(done.sample.messages)
                if slot.token in (m.get("reasoning_content") or "")
            )
            text, record = await self._rewrite(context, index, slot, done.forbidden_texts)
            texts[slot.token] = text
            records.append(record)
        out = fill(done, texts)
        out.sample.meta.update(
            rewriter=self.name,
            rewrites=[r.model_dump() for r in records],
            rewrite_fallbacks=sum(r.status == "fallback" for r in records),
        )
        return out


def _strip_fence(text: str) -> str:
    text = text.strip()
    match = _FENCE.match(text)
    return match.group("body").strip() if match else text


async def rewrite_traces(
    rewriter: LLMRewriter,
    traces: Sequence[EpisodeTrace],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Any = None,
) -> list[Internalized]:
    """:meth:`LLMRewriter.rewrite` over ``traces`` (at most ``concurrency`` at once), in order."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(trace: EpisodeTrace) -> Internalized:
        async with gate:
            done = await rewriter.rewrite(trace)
        if progress is not None:
            progress()
        return done

    return list(await asyncio.gather(*(one(t) for t in traces)))


def rewrite_summary(samples: Sequence[Internalized]) -> dict[str, int]:
    """Counts over rewritten samples: reflections rewritten, from cache, kept offline."""
    counts = {"rewritten": 0, "cached": 0, "fallback": 0}
    for done in samples:
        for record in done.sample.meta.get("rewrites") or []:
            if record["status"] == "fallback":
                counts["fallback"] += 1
            elif record["cached"]:
                counts["cached"] += 1
            else:
                counts["rewritten"] += 1
    return counts


__all__ = [
    "LLMRewriter",
    "RewriteRecord",
    "check_rewrite",
    "echo_problem",
    "escape_problem",
    "internalize_with_slots",
    "rewrite_summary",
    "rewrite_traces",
]
