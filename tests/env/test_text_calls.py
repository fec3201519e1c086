"""Tool calls written as assistant text (issue 18, item 2): each form a model without a server-side tool parser
writes, read from a message dict's ``content`` as the policy sends it and from a plain string, and the form kept
in the episode.

Sources of the texts: the forms are written as the model families' chat-template documentation shows them
(Hermes/Qwen ``<tool_call>``, Llama 3.1 ``<|python_tag|>``, Mistral ``[TOOL_CALLS]`` v3 and v11, Gemma's
```` ```tool_code ```` prompt convention), since none of those models is installable here; real replies of the one
model that is (Gemma 3 270M under llama-cpp-python, asked for each form) are in tests/env/test_real_text_calls.py.
"""

from __future__ import annotations

import json

import pytest

from sandbox.env.actions import MAX_CALLS_PER_TURN, parse_action
from sandbox.env.text_calls import FORMATS, find_text_calls

SEARCH = {"query": "wireless earbuds", "filters": {"price_max": 50}}

DOCUMENTED = {
    "hermes": (
        "I'll search the catalog first.\n<tool_call>\n"
        '{"name": "product_search", "arguments": {"query": "wireless earbuds", "filters": {"price_max": 50}}}\n'
        "</tool_call>",
        "I'll search the catalog first.",
    ),
    "mistral": (
        '[TOOL_CALLS] [{"name": "product_search", "arguments": {"query": "wireless earbuds", '
        '"filters": {"price_max": 50}}, "id": "a1B2c3D4e"}]',
        None,
    ),
    "python_tag": (
        '<|python_tag|>{"name": "product_search", "parameters": {"query": "wireless earbuds", '
        '"filters": {"price_max": 50}}}<|eom_id|>',
        None,
    ),
    "tool_code": (
        "Let me look.\n```tool_code\n"
        'product_search(query="wireless earbuds", filters={"price_max": 50})\n```',
        "Let me look.",
    ),
    "json_block": (
        'Searching now:\n```json\n{"name": "product_search", "arguments": '
        '{"query": "wireless earbuds", "filters": {"price_max": 50}}}\n```\nThen I will compare.',
        "Searching now:\n\nThen I will compare.",
    ),
    "json": (
        '{"name": "product_search", "arguments": {"query": "wireless earbuds", "filters": {"price_max": 50}}}',
        None,
    ),
}


def _message(content: str) -> dict:
    return {"role": "assistant", "content": content}


@pytest.mark.parametrize("form", sorted(DOCUMENTED))
def test_each_documented_form_is_a_call_from_a_message_dict(form: str) -> None:
    text, rest = DOCUMENTED[form]
    parsed = parse_action(_message(text), step=3)
    assert parsed.error is None
    assert parsed.text_call_format == form
    assert [(c.name, c.arguments, c.error) for c in parsed.calls] == [("product_search", SEARCH, None)]
    assert parsed.content == rest
    # the chat records a real tool call, answerable by a tool message
    message = parsed.assistant_message()
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == SEARCH


def test_every_form_has_a_case() -> None:
    assert sorted(DOCUMENTED) == sorted(FORMATS)


@pytest.mark.parametrize("form", ["hermes", "mistral", "python_tag", "tool_code", "json_block"])
def test_the_same_forms_as_a_plain_string_action(form: str) -> None:
    parsed = parse_action(DOCUMENTED[form][0], step=1)
    assert parsed.text_call_format == form and [c.name for c in parsed.calls] == ["product_search"]


def test_mistral_v11_and_several_calls() -> None:
    text = (
        '[TOOL_CALLS]product_search[ARGS]{"query": "kettle"}[TOOL_CALLS]calculate[ARGS]{"expression": "2*3"}'
    )
    parsed = parse_action(_message(text), step=1)
    assert parsed.text_call_format == "mistral"
    assert [(c.name, c.arguments) for c in parsed.calls] == [
        ("product_search", {"query": "kettle"}),
        ("calculate", {"expression": "2*3"}),
    ]


def test_llama_python_tag_semicolons_and_builtin_call_form() -> None:
    text = (
        '<|python_tag|>{"name": "product_search", "parameters": {"query": "a; b"}}; '
        '{"name": "calculate", "parameters": {"expression": "1+1"}}'
    )
    parsed = parse_action(_message(text), step=1)
    assert [(c.name, c.arguments) for c in parsed.calls] == [
        ("product_search", {"query": "a; b"}),
        ("calculate", {"expression": "1+1"}),
    ]
    builtin = parse_action(_message('<|python_tag|>web_search.call(query="kettle reviews")'), step=1)
    assert [(c.name, c.arguments) for c in builtin.calls] == [("web_search", {"query": "kettle reviews"})]


def test_tool_code_lists_print_wrappers_and_json_words() -> None:
    text = (
        "```tool_code\n[product_search(query='tv', in_stock=true), "
        "print(visit_product(product_ids=['p1', 'p2'], detail=null))]\n```"
    )
    parsed = parse_action(_message(text), step=1)
    assert parsed.text_call_format == "tool_code"
    assert [(c.name, c.arguments) for c in parsed.calls] == [
        ("product_search", {"query": "tv", "in_stock": True}),
        ("visit_product", {"product_ids": ["p1", "p2"], "detail": None}),
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<tool_call>{not json}</tool_call>", "<tool_call> block 1 is not valid JSON"),
        ("[TOOL_CALLS] [{oops", "[TOOL_CALLS] is followed by not valid JSON"),
        ("<|python_tag|>search(", "is not a Python call"),
        ("```tool_code\nproduct_search('tv')\n```", "must name its arguments"),
        ("```tool_code\nproduct_search(query=make_query())\n```", "is not a literal value"),
        ("```tool_code\nimport os\n```", "must hold only calls"),
    ],
)
def test_announced_but_malformed_calls_are_answered_as_errors(text: str, fragment: str) -> None:
    parsed = parse_action(_message(text), step=1)
    assert parsed.error is None and len(parsed.calls) == 1
    assert parsed.calls[0].name == "(invalid)" and fragment in parsed.calls[0].error


@pytest.mark.parametrize(
    "text",
    [
        "Plan: search for kettles under $50, then compare three.",
        'The spec sheet says:\n```json\n{"wattage": 2200, "capacity_l": 1.7}\n```',
        '```python\nprint("hello")\nx = 1\n```',
        '{"name": "Kettle X", "price": 30}',  # a product, not a call: it has no arguments
        "Results {name: kettle} look good.",
        "```\nunclosed fence",
        '{"name": "Kettle X", "price": 30',  # broken data, not a call: no arguments after the name
        '```json\n{"name": "Kettle X", "price": }\n```',
    ],
)
def test_prose_and_data_are_not_calls(text: str) -> None:
    assert find_text_calls(text) is None
    parsed = parse_action(_message(text), step=1)
    assert parsed.calls == [] and parsed.text_call_format is None and parsed.content == text


@pytest.mark.parametrize(
    ("text", "form", "error"),
    [
        (
            'Here:\n{"name": "calculate", "arguments": {"expression": 2 * 3}}',
            "json",
            "line 2: the JSON call to \"calculate\" is not valid JSON (Expecting ',' delimiter at line 2 column 53)",
        ),
        (
            '```json\n[{"name": "calculate", "parameters": {"expression": "1',
            "json",  # an unclosed fence is no block, but its second line starts a (cut) JSON call
            'line 2: the JSON call to "calculate" is incomplete JSON (the text ends inside it: cut off by max_tokens?)',
        ),
        (
            '```json\n{"name": "calculate", "parameters": {"expression": "1"\n```',
            "json_block",
            '```json block 1: the JSON call to "calculate" is incomplete JSON '
            "(the text ends inside it: cut off by max_tokens?)",
        ),
        (
            '<|python_tag|>{"name": "calculate", "parameters": {"expression": "1+1"}}\nDone, I think.',
            "python_tag",
            None,
        ),
    ],
)
def test_broken_json_calls_are_errors_and_text_after_a_call_is_prose(text: str, form, error) -> None:
    parsed = parse_action(_message(text), step=1)
    assert parsed.text_call_format == form
    if form is None:
        assert parsed.calls == []
    elif error is None:
        assert [(c.name, c.arguments) for c in parsed.calls] == [("calculate", {"expression": "1+1"})]
        assert parsed.content == "Done, I think."
    else:
        assert [(c.name, c.error) for c in parsed.calls] == [("(invalid)", error)]


def test_tool_calls_field_wins_over_text() -> None:
    message = {
        "role": "assistant",
        "content": DOCUMENTED["hermes"][0],
        "tool_calls": [{"id": "c1", "function": {"name": "calculate", "arguments": '{"expression": "1"}'}}],
    }
    parsed = parse_action(message, step=1)
    assert parsed.text_call_format is None and [c.name for c in parsed.calls] == ["calculate"]


def test_text_calls_beyond_the_limit_get_one_summary_error() -> None:
    line = '{"name": "calculate", "arguments": {"expression": "1"}}\n'
    parsed = parse_action(_message("```json\n[" + ",".join([line] * 40) + "]\n```"), step=1)
    assert len(parsed.calls) == MAX_CALLS_PER_TURN + 1
    assert "24 tool calls beyond the limit" in parsed.calls[-1].error


@pytest.mark.parametrize(
    "text",
    [
        "```json\n" * 40_000,
        "[TOOL_CALLS]" * 15_000,
        "<|python_tag|>" + "[" * 100_000,
        "```tool_code\n" + "(" * 50_000 + "\n```",
        "{\n" * 90_000,
        "\n".join(['{"name": "x"'] * 20_000),
    ],
)
def test_hostile_texts_give_bounded_results(text: str) -> None:
    parsed = parse_action(_message(text), step=1)
    assert len(parsed.calls) <= MAX_CALLS_PER_TURN + 1


def test_env_records_the_form_in_the_event_and_the_episode_info(make_env) -> None:
    env = make_env()
    _, info = env.reset(seed=0)
    events = []
    env.subscribe(events.append)
    text = '```tool_code\ncalculate(expression="19.99 * 2")\n```'
    _, _, _, _, info = env.step(_message(text))
    assert info["text_tool_calls"] == {"tool_code": 1}
    tool_messages = [m for m in info["new_messages"] if m.get("role") == "tool"]
    assert len(tool_messages) == 1 and "39.98" in tool_messages[0]["content"]
    assistant = next(e for e in events if e.kind == "assistant")
    assert assistant.data == {"form": "message", "text_call_format": "tool_code"}
    _, _, _, _, info = env.step({"role": "assistant", "tool_calls": [
        {"id": "c9", "function": {"name": "calculate", "arguments": '{"expression": "1+1"}'}}
    ]})  # fmt: skip
    assert info["text_tool_calls"] == {"tool_code": 1}
