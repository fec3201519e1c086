"""The LLM user agent and the LLM shopping-query writer: the model-backed writers of the task generators.

Research tasks come from the one generator, :mod:`sandbox.tasks.generator` (catalog -> behaviour history ->
persona -> writer); :class:`LLMTaskWriter` is its LLM writer (falling back to the template per task). The
shopping-task synthesizer's LLM query writer is :class:`~harness.user_agent.shopping_writer.LLMWriter`.
"""

from harness.user_agent.llm_writer import (
    DraftRejected,
    LLMTaskWriter,
    TaskDraft,
    check_draft,
    history_prompt,
    parse_draft,
    write_task_llm,
)

__all__ = [
    "DraftRejected",
    "LLMTaskWriter",
    "TaskDraft",
    "check_draft",
    "history_prompt",
    "parse_draft",
    "write_task_llm",
]
