"""The LLM query writer for synthesized shopping tasks (``prgym tasks synthesize --writer openai:MODEL``).

The model is asked for one natural request that states every listed requirement; the synthesizer's verifier
(:func:`sandbox.tasks.synthesis.missing_requirements`) rejects a query that misses one, so a paraphrase that
drops a price or a value never becomes a task. Each call is seeded through the request's ``seed`` field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from harness.llm.client import LLMClient
from sandbox.tasks.synthesis.writer import ItemRequirements, Requirement

PROMPT = """You write one realistic shopping request a customer would type to a shopping assistant.
State every requirement below; keep every number, value and product name word as written (you may reorder them
and add connecting words). Answer with the request text only.

{requirements}"""


class LLMWriter:
    """Writes the query with a chat model; synchronous (the synthesizer is), one request per candidate task.

    The client's HTTP session belongs to the event loop it first ran on, so the writer keeps one private loop
    for all its calls (a fresh ``asyncio.run`` per call would leave the session on a closed loop); ``close``
    closes the client on that loop, then the loop.
    """

    def __init__(self, client: LLMClient, model: str) -> None:
        self.client = client
        self.name = f"openai:{model}"
        self._loop = asyncio.new_event_loop()

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self.client.aclose())
            self._loop.close()

    def __enter__(self) -> LLMWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, items: Sequence[ItemRequirements], task_level: Sequence[Requirement], seed: int) -> str:
        lines = []
        for n, item in enumerate(items, 1):
            prefix = f"item {n}: " if len(items) > 1 else ""
            lines += [f"- {prefix}{r.kind}: {r.phrase}" for r in item.requirements]
        lines += [f"- {r.kind}: {r.phrase}" for r in task_level]
        messages = [{"role": "user", "content": PROMPT.format(requirements="\n".join(lines))}]
        result = self._loop.run_until_complete(self.client.chat(messages, None, seed=seed))
        return str(result.message.get("content") or "").strip()
