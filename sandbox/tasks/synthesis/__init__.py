"""ShoppingBench-style task synthesis over any catalog snapshot (see :mod:`.synthesize`)."""

from sandbox.tasks.synthesis.pool import CatalogPool
from sandbox.tasks.synthesis.synthesize import (
    INTENTS,
    Rejection,
    SynthesisConfig,
    SynthesisReport,
    synthesize_tasks,
)
from sandbox.tasks.synthesis.writer import QueryWriter, TemplateWriter, missing_requirements

__all__ = [
    "INTENTS",
    "CatalogPool",
    "QueryWriter",
    "Rejection",
    "SynthesisConfig",
    "SynthesisReport",
    "TemplateWriter",
    "missing_requirements",
    "synthesize_tasks",
]
