"""The user agent: behaviour history from the catalog -> persona and intent -> research task with a rubric."""

from harness.user_agent.generate import generate_user_task, generate_user_tasks
from harness.user_agent.history import BehaviourHistory, HistoryItem, draw_history
from harness.user_agent.persona import InferredPersona, infer_persona
from harness.user_agent.writer import TaskInfeasible, write_rubric, write_task

__all__ = [
    "BehaviourHistory",
    "HistoryItem",
    "InferredPersona",
    "TaskInfeasible",
    "draw_history",
    "generate_user_task",
    "generate_user_tasks",
    "infer_persona",
    "write_rubric",
    "write_task",
]
