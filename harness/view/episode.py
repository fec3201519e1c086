"""One episode as the viewer shows it: task, timeline, report revisions, final report, reward.

Built from a trace as a plain dict (:func:`harness.view.load.read_trace_line`). The timeline comes from the
trace's per-step view (``steps``: the agent's turn, the tool messages answering it, the supervisor's verdicts
and feedback) when it has one, else from the ordered ``events``, so the viewer reads traces written before and
after the recorder's event vocabulary changes. Every string stays plain text here; the page inserts it with
``textContent``. The one exception is the final report, rendered to HTML by :mod:`harness.view.report_html`,
which escapes everything it is given.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from harness.view.report_html import render_report

RESULT_PREVIEW_CHARS = 240
FULL_RESULT_CHARS = 60_000
ANSWER_TOOLS = ("submit_report", "recommend_products")


def _json_or_text(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pretty(value: Any, limit: int = FULL_RESULT_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False)
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit:,} more characters not embedded)"
    return text


def _money(price: Any, currency: Any) -> str:
    if price is None:
        return "-"
    return f"{price} {currency}" if currency else str(price)


def compact_result(name: str, payload: Any) -> str:
    """A one-line summary of a tool result (the full result is one click away)."""
    if not isinstance(payload, dict):
        text = str(payload)
        return text if len(text) <= RESULT_PREVIEW_CHARS else text[:RESULT_PREVIEW_CHARS] + " ..."
    if payload.get("error") and not payload.get("products") and not payload.get("hits"):
        return f"error: {payload.get('error')}"
    if name == "product_search" and "hits" in payload:
        hits = payload.get("hits") or []
        shown = "; ".join(
            f"{h.get('title', '?')[:60]} ({_money(h.get('price'), h.get('currency'))})" for h in hits[:3]
        )
        more = f" +{len(hits) - 3} more" if len(hits) > 3 else ""
        return f"{payload.get('total', len(hits))} matches, {len(hits)} on this page: {shown}{more}"
    if name == "visit_product" and "products" in payload:
        products = payload.get("products") or []
        titles = "; ".join(str(p.get("title", "?"))[:50] for p in products[:3])
        missing = payload.get("not_found") or []
        extra = f"; {len(missing)} unknown id(s)" if missing else ""
        return f"{len(products)} record(s): {titles}{' ...' if len(products) > 3 else ''}{extra}"
    if name == "calculate":
        return f"{payload.get('expression', '?')} = {payload.get('result', payload.get('error', '?'))}"
    if name in ANSWER_TOOLS:
        verdict = payload.get("verdict") or {}
        if isinstance(verdict, dict) and verdict:
            failed = ", ".join(verdict.get("failed_checks") or [])
            return f"verdict: {verdict.get('status', '?')}" + (f" (failed: {failed})" if failed else "")
    if name == "web_search" and isinstance(payload.get("results"), list):
        return f"{len(payload['results'])} result(s)"
    text = json.dumps(payload, ensure_ascii=False)
    return text if len(text) <= RESULT_PREVIEW_CHARS else text[:RESULT_PREVIEW_CHARS] + " ..."


def _record_products(name: str, payload: Any, products: dict[str, dict[str, Any]]) -> None:
    """Collect catalog records as the agent saw them: full records from visits, hits from searches."""
    if not isinstance(payload, dict):
        return
    if name == "visit_product":
        for record in payload.get("products") or []:
            if isinstance(record, dict) and record.get("id"):
                products[str(record["id"])] = {**record, "_from": "visit_product"}
    elif name == "product_search":
        for hit in payload.get("hits") or []:
            if isinstance(hit, dict) and hit.get("id") and str(hit["id"]) not in products:
                products[str(hit["id"])] = {**hit, "_from": "product_search"}


def _call_parts(call: dict[str, Any]) -> tuple[str, str, Any]:
    function = call.get("function") or {}
    name = str(function.get("name") or call.get("name") or "?")
    arguments = function.get("arguments", call.get("arguments"))
    return str(call.get("id") or ""), name, _json_or_text(arguments)


def _critiques(verdict: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for critique in verdict.get("critiques") or []:
        if isinstance(critique, dict):
            out.append(
                {
                    "check": str(critique.get("check", "")),
                    "message": str(critique.get("message", "")),
                    "fix": str(critique.get("fix", "")),
                }
            )
        else:
            out.append({"check": "", "message": str(critique), "fix": ""})
    return out


class _Timeline:
    """Accumulates timeline items, answers, and the records the agent saw."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.products: dict[str, dict[str, Any]] = {}
        self.answers: list[dict[str, Any]] = []
        self.tool_calls = 0
        self.seen_tool_call = False

    def assistant(self, step: int, message: dict[str, Any]) -> dict[str, Any]:
        calls = []
        for call in message.get("tool_calls") or []:
            call_id, name, args = _call_parts(call)
            short = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            calls.append(
                {
                    "id": call_id,
                    "name": name,
                    "short": short if len(short) <= 140 else short[:140] + " ...",
                    "args": _pretty(args),
                    "result": None,
                    "full": None,
                }
            )
            self.tool_calls += 1
            if name in ANSWER_TOOLS and isinstance(args, dict):
                self.answers.append({"step": step, "tool": name, "args": args})
        content = message.get("content")
        item = {
            "type": "assistant",
            "step": step,
            "content": content if isinstance(content, str) else None,
            "reasoning": message.get("reasoning_content") or message.get("reasoning"),
            "plan": bool(content) and not calls and not self.seen_tool_call,
            "calls": calls,
        }
        if calls:
            self.seen_tool_call = True
        self.items.append(item)
        return item

    def tool_result(self, turn: dict[str, Any] | None, call_id: str, name: str, content: Any) -> None:
        payload = _json_or_text(content)
        _record_products(name, payload, self.products)
        target = None
        if turn is not None:
            target = next((c for c in turn["calls"] if c["id"] == call_id and c["result"] is None), None)
            if target is None:
                target = next((c for c in turn["calls"] if c["result"] is None and c["name"] == name), None)
        if target is None:
            self.items.append(
                {
                    "type": "env",
                    "step": turn["step"] if turn else 0,
                    "text": f"{name}: {_pretty(payload, 2000)}",
                }
            )
            return
        target["result"] = compact_result(name, payload)
        target["full"] = _pretty(payload)
        target["error"] = bool(isinstance(payload, dict) and payload.get("error"))

    def verdict(self, step: int, verdict: dict[str, Any], turn: dict[str, Any] | None) -> None:
        where = str(verdict.get("where", ""))
        passed = bool(verdict.get("passed", True))
        critiques = _critiques(verdict)
        if passed and verdict.get("kind") == "tool_call" and turn is not None:
            # a passing tool-call check is a tick on the call it judged, not a timeline entry of its own
            for call in turn["calls"]:
                if where.endswith(f"({call['name']})") or call.get("check") is None:
                    call["check"] = "passed"
                    break
            return
        self.items.append(
            {
                "type": "supervisor",
                "step": step,
                "where": where,
                "kind": str(verdict.get("kind", "")),
                "passed": passed,
                "critiques": critiques,
                "text": None,
            }
        )

    def feedback(self, step: int, message: dict[str, Any]) -> None:
        text = message.get("content")
        if not isinstance(text, str):
            return
        name = message.get("name") or "environment"
        last = self.items[-1] if self.items else None
        if name == "supervisor" and last and last["type"] == "supervisor" and last["text"] is None:
            last["text"] = text
            return
        self.items.append({"type": "feedback", "step": step, "name": str(name), "text": text})


def _timeline_from_steps(trace: dict[str, Any], timeline: _Timeline) -> None:
    for step in trace.get("steps") or []:
        number = int(step.get("step", 0))
        turn = timeline.assistant(number, step.get("assistant") or {})
        for message in step.get("tool_messages") or []:
            timeline.tool_result(
                turn,
                str(message.get("tool_call_id", "")),
                str(message.get("name", "")),
                message.get("content"),
            )
        for verdict in step.get("verdicts") or []:
            timeline.verdict(number, verdict, turn)
        for message in step.get("feedback") or []:
            timeline.feedback(number, message)
        for error in step.get("errors") or []:
            timeline.items.append(
                {"type": "env", "step": number, "text": f"error: {json.dumps(error, ensure_ascii=False)}"}
            )


def _timeline_from_events(trace: dict[str, Any], timeline: _Timeline) -> None:
    turn: dict[str, Any] | None = None
    for event in trace.get("events") or []:
        kind = str(event.get("kind", ""))
        role = str(event.get("role", ""))
        step = int(event.get("step", 0) or 0)
        if kind == "assistant" or role == "research_agent":
            message = {
                "content": event.get("content"),
                "tool_calls": event.get("tool_calls"),
                **(event.get("data") or {}),
            }
            turn = timeline.assistant(step, message)
        elif kind == "tool_result" or role == "tool":
            result = event.get("tool_result") or {}
            data = event.get("data") or {}
            name = str(result.get("name") or data.get("name") or data.get("tool") or "")
            call_id = str(result.get("tool_call_id") or data.get("tool_call_id") or "")
            timeline.tool_result(
                turn, call_id, name, event.get("content") if event.get("content") is not None else result
            )
        elif event.get("verdict"):
            timeline.verdict(step, event["verdict"], turn)
        elif role == "supervisor" and event.get("content"):
            timeline.feedback(step, {"name": "supervisor", "content": event["content"]})
        elif kind not in ("reset", "episode_end") and event.get("content"):
            timeline.feedback(step, {"name": role or kind, "content": event["content"]})


def _diff(before: str, after: str) -> list[list[str]]:
    """A line diff of two report drafts: ``[op, line]`` with op one of ' ', '+', '-' (context trimmed)."""
    ops: list[list[str]] = []
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            lines = matcher.a[i1:i2]
            if len(lines) > 4:
                ops += [[" ", x] for x in lines[:2]] + [["~", f"... {len(lines) - 4} unchanged lines ..."]]
                ops += [[" ", x] for x in lines[-2:]]
            else:
                ops += [[" ", x] for x in lines]
        else:
            ops += [["-", x] for x in matcher.a[i1:i2]]
            ops += [["+", x] for x in matcher.b[j1:j2]]
    return ops


def _answer_text(answer: dict[str, Any]) -> str:
    args = answer["args"]
    if answer["tool"] == "submit_report":
        return str(args.get("report", ""))
    return "\n".join(f"- [P:{pid}]" for pid in args.get("product_ids") or [])


def _insert_revisions(timeline: _Timeline) -> list[dict[str, Any]]:
    """One 'revision' item after each resubmitted answer, holding the diff from the previous draft."""
    drafts = [_answer_text(a) for a in timeline.answers]
    revisions = []
    for n in range(1, len(drafts)):
        revisions.append(
            {"n": n + 1, "step": timeline.answers[n]["step"], "diff": _diff(drafts[n - 1], drafts[n])}
        )
    for revision in reversed(revisions):
        position = next(
            (
                i
                for i, item in enumerate(timeline.items)
                if item["type"] == "assistant" and item["step"] == revision["step"]
            ),
            len(timeline.items) - 1,
        )
        timeline.items.insert(position + 1, {"type": "revision", **revision})
    return revisions


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    """The parts of a task the episode header shows."""
    rubric = task.get("rubric") or {}
    dimensions = [
        {
            "name": str(d.get("name", "?")),
            "weight": d.get("weight"),
            "criteria": [str(c.get("text", "")) for c in d.get("criteria") or []],
        }
        for d in (rubric.get("dimensions") or [])
        if isinstance(d, dict)
    ]
    constraints = {k: v for k, v in (task.get("constraints") or {}).items() if v not in (None, [], "", {})}
    persona = task.get("persona")
    if isinstance(persona, dict):
        persona = persona.get("description") or json.dumps(persona, ensure_ascii=False)
    return {
        "id": task.get("task_id"),
        "kind": task.get("kind"),
        "query": task.get("query") or task.get("instruction") or "",
        "persona": persona,
        "constraints": {
            k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in constraints.items()
        },
        "rubric": dimensions,
        "split": task.get("split"),
    }


def episode_detail(
    trace: dict[str, Any] | None,
    result: dict[str, Any],
    *,
    task: dict[str, Any] | None = None,
    sample: dict[str, Any] | None = None,
    decision: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the episode view shows, as plain data (strings are untrusted text, shown escaped)."""
    trace = trace or {}
    timeline = _Timeline()
    if trace.get("steps"):
        _timeline_from_steps(trace, timeline)
    else:
        _timeline_from_events(trace, timeline)
    revisions = _insert_revisions(timeline)
    final = trace.get("final_answer") or {}
    report_text = final.get("report") if isinstance(final, dict) else None
    if report_text is None and timeline.answers and timeline.answers[-1]["tool"] == "submit_report":
        report_text = str(timeline.answers[-1]["args"].get("report", ""))
    report = render_report(report_text, timeline.products) if report_text else None
    recommended = final.get("product_ids") if isinstance(final, dict) else None
    info = result.get("info") or {}
    return {
        "id": trace.get("episode_id") or result.get("episode_key"),
        "task": task_view(trace.get("task") or task or {}),
        "policy": trace.get("policy") or {"policy": result.get("policy")},
        "meta": {
            "seed": trace.get("seed", result.get("seed")),
            "catalog": trace.get("catalog_snapshot") or info.get("catalog_snapshot"),
            "cache": trace.get("cache_namespace"),
            "env_version": trace.get("env_version") or info.get("env_version"),
            "started": trace.get("started_at") or result.get("started_at"),
            "duration_s": trace.get("duration_s", result.get("duration_s")),
            "usage": trace.get("usage") or result.get("usage") or {},
        },
        "status": {
            "result": result.get("status"),
            "reason": result.get("reason"),
            "error": result.get("error"),
            "traceback": result.get("traceback"),
            "finished": trace.get("finished"),
            "accepted": trace.get("accepted", info.get("accepted")),
            "truncated": trace.get("truncated", result.get("truncated")),
        },
        "opening": [
            {"role": str(m.get("role", "")), "content": str(m.get("content") or "")}
            for m in trace.get("opening") or []
        ],
        "timeline": timeline.items,
        "revisions": len(revisions),
        "report": report,
        "recommended": [str(p) for p in recommended] if isinstance(recommended, list) else None,
        "products": timeline.products,
        "reward": trace.get("reward", result.get("reward")),
        "components": trace.get("reward_components") or result.get("reward_components") or {},
        "weights": trace.get("reward_weights") or {},
        "metrics": {
            k: v
            for k, v in (trace.get("metrics") or info.get("metrics") or {}).items()
            if not isinstance(v, (list, dict))
        },
        "has_trace": bool(trace),
        "distill": _distill_view(sample, decision),
    }


def _distill_view(sample: dict[str, Any] | None, decision: dict[str, Any] | None) -> dict[str, Any] | None:
    if sample is None and decision is None:
        return None
    messages = []
    for message in (sample or {}).get("messages") or []:
        calls = [
            {"name": name, "args": _pretty(args, 4000)}
            for _, name, args in (_call_parts(c) for c in message.get("tool_calls") or [])
        ]
        content = message.get("content")
        messages.append(
            {
                "role": str(message.get("role", "")),
                "name": message.get("name"),
                "content": _pretty(content, 8000) if content is not None else None,
                "reasoning": message.get("reasoning_content"),
                "calls": calls,
            }
        )
    return {"decision": decision, "messages": messages, "meta": (sample or {}).get("meta")}
