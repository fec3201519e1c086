"""Action parsing: the three accepted forms, generated call ids, and malformed actions as errors."""

from __future__ import annotations

import json

import pytest

from sandbox.env.actions import MAX_ACTION_CHARS, MAX_CALLS_PER_TURN, parse_action


def test_openai_message_with_several_calls() -> None:
    action = {
        "role": "assistant",
        "content": [{"type": "text", "text": "Let me look."}],
        "reasoning_content": "thinking",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "product_search", "arguments": '{"query": "tv"}'},
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "calculate", "arguments": {"expression": "1+1"}},
            },
        ],
    }
    parsed = parse_action(action, step=3)
    assert parsed.form == "message" and parsed.content == "Let me look." and parsed.error is None
    assert [(c.call_id, c.name) for c in parsed.calls] == [("c1", "product_search"), ("c2", "calculate")]
    message = parsed.assistant_message()
    assert message["reasoning_content"] == "thinking"
    assert message["tool_calls"][1]["function"]["arguments"] == '{"expression": "1+1"}'


def test_json_tool_call_as_dict_text_and_list() -> None:
    as_dict = parse_action({"name": "calculate", "arguments": {"expression": "2*3"}}, step=1)
    as_text = parse_action(' {"name": "calculate", "arguments": {"expression": "2*3"}} ', step=1)
    as_list = parse_action('[{"name": "calculate", "arguments": {}}, {"name": "product_search"}]', step=7)
    assert as_dict.form == as_text.form == "tool_call"
    assert as_dict.calls[0].arguments == as_text.calls[0].arguments == {"expression": "2*3"}
    assert [c.call_id for c in as_list.calls] == ["call_7_1", "call_7_2"]


def test_plain_text_and_hermes_blocks() -> None:
    plan = parse_action("Plan: search for headphones under $100.", step=1)
    assert plan.form == "text" and plan.calls == [] and plan.content.startswith("Plan:")
    mixed = parse_action(
        'I will search.\n<tool_call>{"name": "product_search", "arguments": {"query": "tv"}}</tool_call>\n'
        "<tool_call>{not json}</tool_call>",
        step=2,
    )
    assert mixed.content == "I will search."
    assert mixed.calls[0].name == "product_search" and mixed.calls[0].error is None
    assert "not valid JSON" in mixed.calls[1].error


def test_duplicate_and_missing_ids_become_unique() -> None:
    call = {"id": "same", "type": "function", "function": {"name": "calculate", "arguments": "{}"}}
    parsed = parse_action(
        {"role": "assistant", "tool_calls": [call, call, {"function": {"name": "calculate"}}]}, step=4
    )
    ids = [c.call_id for c in parsed.calls]
    assert ids[0] == "same" and len(set(ids)) == 3


@pytest.mark.parametrize(
    ("action", "fragment"),
    [
        (42, "got int"),
        (None, "got NoneType"),
        ("   ", "empty"),
        ('{"name": "calculate", ', "does not parse"),
        ("[]", "empty JSON list"),
        ({"role": "user", "content": "hi"}, "role 'assistant'"),
        ({"role": "assistant", "content": 5}, "must be a string"),
        ({"role": "assistant", "tool_calls": "x"}, "must be a list"),
        ({"foo": 1}, "got keys: foo"),
        ("x" * (MAX_ACTION_CHARS + 1), "characters long"),
    ],
)
def test_malformed_actions_are_errors_not_exceptions(action, fragment) -> None:
    parsed = parse_action(action, step=1)
    assert parsed.form == "invalid" and fragment in parsed.error


def test_edge_forms() -> None:
    quoted = parse_action('"just a json string"', step=1)
    assert quoted.form == "text" and quoted.content == '"just a json string"'
    numbers = parse_action("[1, 2]", step=1)
    assert numbers.form == "tool_call" and [c.error for c in numbers.calls] == [
        "tool call 1 must be an object, got int",
        "tool call 2 must be an object, got int",
    ]


def test_malformed_call_entries_get_their_own_errors() -> None:
    parsed = parse_action(
        {
            "role": "assistant",
            "tool_calls": [5, {"function": "x"}, {"function": {"name": 3}}, {"name": "calculate"}],
        },
        step=1,
    )
    errors = [c.error for c in parsed.calls]
    assert "must be an object" in errors[0]
    assert "'function' must be an object" in errors[1]
    assert "no tool name" in errors[2]
    assert errors[3] is None


def test_too_many_calls_are_answered_but_not_run() -> None:
    calls = [{"name": "calculate", "arguments": {"expression": "1"}}] * (MAX_CALLS_PER_TURN + 2)
    parsed = parse_action(json.dumps(calls), step=1)
    assert len(parsed.calls) == MAX_CALLS_PER_TURN + 1  # one summary answers every call beyond the limit
    assert all(c.error is None for c in parsed.calls[:MAX_CALLS_PER_TURN])
    assert "2 tool calls beyond the limit" in parsed.calls[-1].error
