"""Tasks: research and shopping task models, the ShoppingBench loader, task sets with splits, the generator."""

from sandbox.tasks.generator import generate_task, generate_tasks, research_task
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
    "generate_task",
    "generate_tasks",
    "load_shoppingbench",
    "load_shoppingbench_dir",
    "load_tasks",
    "parse_task",
    "research_task",
]
