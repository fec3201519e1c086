"""Policies that drive the env: the scripted baseline (no LLM) and the OpenAI function-calling research agent."""

from harness.policies.context import TrimStrategy
from harness.policies.openai_agent import ResearchAgentPolicy
from harness.policies.request import ParsedRequest, parse_request, request_text
from harness.policies.scripted import ScriptedPolicy, make_policy

__all__ = [
    "ParsedRequest",
    "ResearchAgentPolicy",
    "ScriptedPolicy",
    "TrimStrategy",
    "make_policy",
    "parse_request",
    "request_text",
]
