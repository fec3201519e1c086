"""The supervisor: a protocol (plan / tool call / final answer checks), the phase state machine and the
rule-based, catalog-grounded implementation."""

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

__all__ = [
    "SUPERVISOR_MARKER",
    "Critique",
    "FinalAnswer",
    "Phase",
    "PhaseMachine",
    "RevisionLimits",
    "RuleBasedSupervisor",
    "Supervisor",
    "SupervisorContext",
    "ToolCallRecord",
    "Verdict",
]
