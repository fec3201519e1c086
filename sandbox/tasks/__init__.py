"""Tasks: research and shopping task models, the ShoppingBench loader, task sets with splits, a generator."""

from sandbox.tasks.generator import generate_research_task, generate_task_set
from sandbox.tasks.models import (
    HardConstraints,
    Persona,
    PriceRange,
    ResearchTask,
    Rubric,
    RubricCriterion,
    RubricDimension,
    ShoppingTarget,
    ShoppingTask,
    Voucher,
    parse_task,
)
from sandbox.tasks.shoppingbench import ShoppingBenchFormatError, load_shoppingbench, load_shoppingbench_dir
from sandbox.tasks.taskset import TaskSet, TaskSetFormatError, load_tasks

__all__ = [
    "HardConstraints",
    "Persona",
    "PriceRange",
    "ResearchTask",
    "Rubric",
    "RubricCriterion",
    "RubricDimension",
    "ShoppingBenchFormatError",
    "ShoppingTarget",
    "ShoppingTask",
    "TaskSet",
    "TaskSetFormatError",
    "Voucher",
    "generate_research_task",
    "generate_task_set",
    "load_shoppingbench",
    "load_shoppingbench_dir",
    "load_tasks",
    "parse_task",
]
