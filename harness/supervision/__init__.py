"""The LLM supervisor: rule-based checks first, then LLM critiques of plan, tool calls and report quality."""

from harness.supervision.supervisor import (
    ALL_CHECKS,
    LLMSupervisor,
    LLMVerdict,
    SupervisionRecord,
    parse_verdict,
)

__all__ = ["ALL_CHECKS", "LLMSupervisor", "LLMVerdict", "SupervisionRecord", "parse_verdict"]
