"""The user agent: behaviour history from the catalog -> persona and intent -> research task with a rubric.

Two writers: the offline template (``write_task``) and the LLM (``write_task_llm``, falling back to the template).
"""

from harness.user_agent.generate import (
    generate_llm_task,
    generate_llm_tasks,
    generate_user_task,
    generate_user_tasks,
)
from harness.user_agent.history import BehaviourHistory, HistoryItem, draw_history
from harness.user_agent.llm_writer import DraftRejected, TaskDraft, parse_draft, write_task_llm
from harness.user_agent.persona import InferredPersona, infer_persona
from harness.user_agent.writer import TaskInfeasible, write_rubric, write_task

__all__ = [
    "BehaviourHistory",
    "DraftRejected",
    "HistoryItem",
    "InferredPersona",
    "TaskInfeasible",
    "TaskDraft",
    "draw_history",
    "generate_llm_task",
    "generate_llm_tasks",
    "generate_user_task",
    "generate_user_tasks",
    "infer_persona",
    "parse_draft",
    "write_rubric",
    "write_task",
    "write_task_llm",
]
