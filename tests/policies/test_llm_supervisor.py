"""The LLM supervisor over real HTTP: rules first, LLM critique reaching the agent, bad replies tolerated."""

from __future__ import annotations

import json

import pytest
from policy_helpers import drive, llm_config

from harness.policies.scripted import ScriptedPolicy
from harness.supervision import LLMSupervisor, parse_verdict
from harness.testing.openai_server import Reply
from sandbox.env import ProductResearchEnv

CRITIQUE = "The report never discusses warranty coverage; add a warranty note for the recommended option."


def test_llm_critique_reaches_the_agent_and_it_revises(small_snapshot, research_tasks, llm_server) -> None:
    llm_server.push(
        Reply.text(json.dumps({"pass": False, "critique": CRITIQUE})),
        Reply.text("Looks fine to me!"),  # not JSON: retried once with a correction
        Reply.text('```json\n{"pass": true, "critique": ""}\n```'),
    )
    supervisor = LLMSupervisor(llm_config(llm_server), checks=("answer",))
    try:
        env = ProductResearchEnv(small_snapshot, supervisor=supervisor)
        actions, info, _ = drive(env, ScriptedPolicy(), seed=1, options={"task": research_tasks[2]})
    finally:
        supervisor.close()
    feedback = [m["content"] for m in info["messages"] if m.get("name") == "supervisor"]
    assert any("[llm_report]" in text and CRITIQUE in text for text in feedback)
    reports = [
        json.loads(c["function"]["arguments"])["report"]
        for a in actions
        for c in a.get("tool_calls") or []
        if c["function"]["name"] == "submit_report"
    ]
    assert len(reports) == 2 and CRITIQUE in reports[1] and info["accepted"]
    llm_records = [r for r in supervisor.records if r.llm_called]
    assert [r.passed for r in llm_records] == [False, True]
    assert llm_records[0].critique == CRITIQUE and llm_records[1].attempts == 2
    # the supervisor prompt carried the task's rubric and the report
    first = llm_server.chat_requests()[0].body["messages"][1]["content"]
    assert "comprehensiveness" in first and "[P:" in first
    # plan and tool calls were checked by the rules only
    assert all(not r.llm_called for r in supervisor.records if r.check != "answer")


def test_failing_endpoint_passes_with_a_recorded_note(small_snapshot, research_tasks, llm_server) -> None:
    llm_server.responder = lambda request: Reply.error(500, message="down")
    supervisor = LLMSupervisor(llm_config(llm_server, max_retries=0), checks=("plan", "answer"))
    try:
        env = ProductResearchEnv(small_snapshot, supervisor=supervisor)
        _, info, _ = drive(env, ScriptedPolicy(), seed=2, options={"task": research_tasks[4]})
    finally:
        supervisor.close()
    assert info["accepted"] and info["internal_errors"] == 0
    notes = [r.note for r in supervisor.records if r.llm_called]
    assert len(notes) == 2 and all("LLM request failed" in n for n in notes)


def test_rule_failures_skip_the_llm(small_snapshot, research_tasks, llm_server) -> None:
    supervisor = LLMSupervisor(llm_config(llm_server), checks=("plan",))
    try:
        env = ProductResearchEnv(small_snapshot, supervisor=supervisor)
        env.reset(seed=0, options={"task": research_tasks[0]})
        _, _, _, _, info = env.step("ok")  # too short: the rules reject it, no LLM call
    finally:
        supervisor.close()
    assert llm_server.chat_requests() == []
    assert info["verdicts"][0]["critiques"][0]["check"] == "plan_present"


@pytest.mark.parametrize(
    "reply",
    ['{"pass": "yes"}', '{"pass": false, "critique": ""}', "[1]", "nope", '{"pass": true, "extra": 1}'],
)
def test_parse_verdict_is_strict(reply: str) -> None:
    with pytest.raises(ValueError):
        parse_verdict(reply)
