"""The scripted baseline: a deterministic, LLM-free research agent that drives the env through its tools.

A state machine over the episode, reading only the chat the env returns:

1. **Plan**: restates every requirement of the request and how it will be checked (the supervisor checks that
   the plan covers each hard constraint); a rejected plan is revised with the requirements the critique quotes.
2. **Search**: parallel ``product_search`` calls with filters built from the requirements (budget -> price range,
   category, brand, rating, stock, services) and reformulations of the query (must-have terms + category,
   category alone, browse by rating and by popularity); later rounds page further.
3. **Visit**: ``visit_product`` on the best distinct candidates whose hits pass the requirements a hit shows.
4. **Verify**: every visited record is checked against every requirement (must-have terms need the record).
5. **Calculate**: the budget left by the recommended product (``calculate``, exact decimals).
6. **Report**: ``submit_report`` citing up to ``max_products`` verified products with their catalog prices,
   brands, ratings and attributes, a comparison table and a section per rubric dimension.
7. **Revise**: on a rejection, the critiques are parsed: cited products the supervisor names are dropped,
   unaddressed requirements are stated, missing rubric dimensions get a section, too few products trigger
   more research; anything else is acknowledged in a revision note. Then it resubmits.

Shopping tasks (``recommend_products``): search the request's words with the stated limits, visit the top hits,
recommend the best verified ones (one shop when the request says so, the cheapest set within a voucher budget).

Same chat in, same action out: no randomness, no clock, so the same seed gives the same trajectory.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from harness.policies.checks import problems
from harness.policies.observations import Feedback, parse_feedback, tool_payload
from harness.policies.report import money, pick, write_report
from harness.policies.request import ParsedRequest, parse_request, request_text
from sandbox.stopwords import STOPWORDS
from sandbox.tasks.models import format_money


class ScriptedPolicy:
    """One episode's scripted agent (make one per episode; it keeps the episode's state)."""

    def __init__(
        self,
        *,
        max_products: int = 10,
        visit_batch: int = 10,
        max_search_rounds: int = 3,
    ) -> None:
        if max_products < 1 or visit_batch < 1 or max_search_rounds < 1:
            raise ValueError("max_products, visit_batch and max_search_rounds must be at least 1")
        self.max_products = max_products
        self.visit_batch = visit_batch
        self.max_search_rounds = max_search_rounds
        self.request: ParsedRequest | None = None
        self.turn = 0
        self._seen = 0
        self.hits: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.visited: set[str] = set()
        self.excluded: set[str] = set()
        self.search_round = 0
        self.searches: set[str] = set()
        self.calculated: str | None = None
        self.calc_requested = False
        self.last_verdict: str | None = None
        self.feedback: list[Feedback] = []
        self.extra_sections: list[str] = []
        self.need_more = False
        self.plan_rejections = 0

    # -- reading the chat --------------------------------------------------------------------------------------

    def _ingest(self, messages: list[dict[str, Any]]) -> None:
        for message in messages[self._seen :]:
            role = message.get("role")
            if role == "tool":
                self._ingest_tool(message)
            elif role == "user" and message.get("name") == "supervisor":
                feedback = parse_feedback(str(message.get("content") or ""))
                if feedback is not None:
                    self.feedback.append(feedback)
        self._seen = len(messages)

    def _ingest_tool(self, message: dict[str, Any]) -> None:
        body = tool_payload(message)
        if body is None:
            return
        name = message.get("name")
        if name == "product_search":
            for hit in body.get("hits") or []:
                if isinstance(hit, dict) and isinstance(hit.get("id"), str):
                    self.hits.setdefault(hit["id"], hit)
        elif name == "visit_product":
            for record in body.get("products") or []:
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    self.records[record["id"]] = record
        elif name == "calculate" and "error" not in body:
            self.calculated = str(body.get("result", body.get("value", "")))
        elif name in ("submit_report", "recommend_products"):
            verdict = body.get("verdict") if isinstance(body.get("verdict"), dict) else {}
            self.last_verdict = str(verdict.get("status") or ("error" if "error" in body else "unknown"))

    # -- acting ------------------------------------------------------------------------------------------------

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        """The next assistant message (an OpenAI chat message dict)."""
        return self.next_action(messages, tools)

    def next_action(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        """Synchronous core of :meth:`act` (handy for driving ``env.step`` directly)."""
        if self.request is None:
            names = [t.get("function", {}).get("name") for t in tools if isinstance(t, dict)]
            self.request = parse_request(request_text(messages), [n for n in names if n])
        self._ingest(messages)
        self.turn += 1
        request = self.request
        latest = self.feedback[-1] if self.feedback else None
        if self.turn == 1:
            return _text(self._plan(request, []))
        if (
            latest is not None
            and latest.plan_rejected
            and self.plan_rejections < len([f for f in self.feedback if f.plan_rejected])
        ):
            self.plan_rejections += 1
            missing = [q for c in latest.critiques for q in c.quoted()]
            return _text(self._plan(request, missing))
        if request.kind == "shopping":
            return self._shopping_step(request)
        return self._research_step(request)

    # -- research ----------------------------------------------------------------------------------------------

    def _plan(self, request: ParsedRequest, missing: list[str]) -> str:
        lines = ["Plan:"]
        lines.append(
            "1. Search the catalog with product_search, using filters that enforce the requirements, and "
            "reformulate the query a few times to find distinct candidates."
        )
        lines.append("2. Visit the most promising products and check each requirement against their records:")
        lines += [f"   - {line}" for line in request.requirement_lines]
        if request.budget_max is not None or request.voucher_budget is not None:
            lines.append("   - stay within the budget (verified with calculate).")
        if request.same_shop:
            lines.append("   - every item from the same shop (seller).")
        for phrase in missing:
            lines.append(f"   - make sure every product meets '{phrase}'.")
        if request.kind == "shopping":
            lines.append("3. Compare the verified candidates and recommend the best one per requested item.")
        else:
            lines.append(
                "3. Compare the verified products on price, brand, rating and specifications, then write a "
                "cited report with a clear recommendation."
            )
        return "\n".join(lines)

    def _qualified(self, request: ParsedRequest) -> list[dict[str, Any]]:
        return [
            r
            for pid, r in self.records.items()
            if pid not in self.excluded and not problems(request, r, full_record=True)
        ]

    def _research_step(self, request: ParsedRequest) -> dict[str, Any]:
        if self.last_verdict == "rejected":
            self._apply_critiques(request)
            self.last_verdict = None
        target = min(self.max_products, max(request.min_products, 5))
        if self.search_round == 0 or (self.need_more and self.search_round < self.max_search_rounds):
            calls = self._searches(request)
            self.need_more = False
            if calls:
                return _calls(self.turn, calls)
        candidates = [
            pid
            for pid, hit in self.hits.items()
            if pid not in self.visited
            and pid not in self.excluded
            and not problems(request, hit, full_record=False)
        ]
        qualified = self._qualified(request)
        if candidates and len(qualified) < target:
            batch = candidates[: self.visit_batch]
            self.visited.update(batch)
            goal = "check price, brand, rating and every requirement: " + "; ".join(request.requirement_lines)
            return _calls(self.turn, [("visit_product", {"product_ids": batch, "goal": goal[:400]})])
        if len(qualified) < target and self.search_round < self.max_search_rounds:
            calls = self._searches(request)
            if calls:
                return _calls(self.turn, calls)
        if not qualified:
            return _calls(self.turn, [("submit_report", {"report": _no_result_report(request)})])
        chosen = qualified[: self.max_products]
        best = pick(chosen)
        if not self.calc_requested and request.budget_max is not None and best.get("price") is not None:
            self.calc_requested = True
            return _calls(
                self.turn, [("calculate", {"expression": f"{request.budget_max} - {best['price']}"})]
            )
        budget_left = None
        if self.calculated and request.budget_max is not None:
            try:
                left = format_money(Decimal(self.calculated), request.currency)
                budget_left = (
                    f"The recommended product leaves {left} of the budget unspent (computed with calculate)."
                )
            except ArithmeticError:
                budget_left = None
        report = write_report(request, chosen, budget_left=budget_left, extra_sections=self.extra_sections)
        return _calls(self.turn, [("submit_report", {"report": report})])

    def _searches(self, request: ParsedRequest) -> list[tuple[str, dict[str, Any]]]:
        """The next round's searches, skipping any already issued (the supervisor flags repeats)."""
        self.search_round += 1
        filters = request.filters()
        leaf = request.category_leaf or ""
        must = " ".join(request.must_have)
        keywords = " ".join(_keywords(request.query)[:6])
        page = self.search_round
        variants: list[dict[str, Any]] = [
            {"query": " ".join(x for x in (must, leaf) if x).strip(), "filters": filters, "page": page},
            {"query": must or keywords, "filters": filters, "page": page},
            {"query": must, "filters": filters, "sort": "rating", "page": page},
            {"query": must, "filters": filters, "sort": "popularity", "page": page},
        ]
        calls = []
        for arguments in variants:
            arguments = {k: v for k, v in arguments.items() if v not in (None, {}, "") or k == "query"}
            if arguments.get("page") == 1:
                arguments.pop("page")
            key = json.dumps(arguments, sort_keys=True)
            if key in self.searches:
                continue
            self.searches.add(key)
            calls.append(("product_search", arguments))
        return calls

    def _apply_critiques(self, request: ParsedRequest) -> None:
        latest = self.feedback[-1] if self.feedback else None
        if latest is None:
            return
        for critique in latest.critiques:
            check = critique.check
            if check in ("citations_exist", "claims_grounded", "products_meet_constraints"):
                self.excluded.update(critique.product_ids())
            elif check == "constraints_addressed":
                for phrase in critique.quoted()[:1]:
                    self.extra_sections.append(f"- Explicitly: every cited product meets '{phrase}'.")
            elif check == "enough_products":
                self.need_more = True
            elif check == "rubric_coverage":
                quoted = critique.quoted()
                dimension = quoted[0] if quoted else "rubric"
                missing = critique.text.split("missing:", 1)[-1].split(")", 1)[0].strip()
                self.extra_sections += [
                    "",
                    f"## {dimension.replace('_', ' ').capitalize()}",
                    "",
                    f"- {missing}.",
                ]
            elif check.startswith("tool_call") or check == "supervisor_error":
                continue
            else:
                ids = critique.product_ids()
                self.excluded.update(ids)
                text = critique.text.split(" Fix: ", 1)[0]
                self.extra_sections += [
                    "",
                    "## Revision notes",
                    "",
                    f"- Addressed the review comment: {text}",
                ]
                self.need_more = self.need_more or bool(ids)

    # -- shopping ----------------------------------------------------------------------------------------------

    def _shopping_step(self, request: ParsedRequest) -> dict[str, Any]:
        if self.last_verdict == "rejected":
            self._apply_critiques(request)
            self.last_verdict = None
            self.need_more = True
        if self.search_round == 0 or (self.need_more and self.search_round < self.max_search_rounds):
            self.need_more = False
            self.search_round += 1
            words = _keywords(_wanted_clause(request.query))
            page = self.search_round
            variants = [{"query": " ".join(words[:12])}, {"query": " ".join(words[:5])}]
            calls = []
            for arguments in variants:
                if page > 1:
                    arguments["page"] = page
                key = json.dumps(arguments, sort_keys=True)
                if arguments["query"] and key not in self.searches:
                    self.searches.add(key)
                    calls.append(("product_search", arguments))
            if calls:
                return _calls(self.turn, calls)
        candidates = [pid for pid in self.hits if pid not in self.visited and pid not in self.excluded]
        if candidates and len(self.visited) < 2 * self.visit_batch:
            batch = candidates[: self.visit_batch]
            self.visited.update(batch)
            return _calls(self.turn, [("visit_product", {"product_ids": batch, "goal": request.query[:400]})])
        pool = [r for pid, r in self.records.items() if pid not in self.excluded] or [
            h for pid, h in self.hits.items() if pid not in self.excluded
        ]
        chosen = _choose_items(request, pool)
        if request.voucher_budget is not None and not self.calc_requested and chosen:
            prices = [str(r.get("price") or 0) for r in chosen]
            self.calc_requested = True
            return _calls(self.turn, [("calculate", {"expression": " + ".join(prices)})])
        return _calls(self.turn, [("recommend_products", {"product_ids": [r["id"] for r in chosen]})])


def _choose_items(request: ParsedRequest, pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One product per requested item, in search order; one shop when asked; cheapest set within budget."""
    n = request.items
    if not pool:
        return []
    groups: list[list[dict[str, Any]]] = [pool]
    if request.same_shop:
        by_shop: dict[str, list[dict[str, Any]]] = {}
        for record in pool:
            by_shop.setdefault(str(record.get("shop")), []).append(record)
        groups = sorted(by_shop.values(), key=lambda g: -len(g)) or [pool]
    chosen = groups[0][:n]
    if request.voucher_budget is not None:
        cheapest = sorted(groups[0], key=lambda r: r.get("price") if r.get("price") is not None else 1e18)[:n]
        total = sum(Decimal(str(r.get("price") or 0)) for r in chosen)
        if total > request.voucher_budget:
            chosen = cheapest
    return chosen


_WANT = re.compile(r"\b(?:buy|purchase|looking for|need|want|get)\b(?P<rest>[^?]*)$", re.IGNORECASE)


def _wanted_clause(query: str) -> str:
    """The part of a shopping request that names the product (after "buy", "purchase", ...), else all of it."""
    match = _WANT.search(query)
    return match.group("rest") if match and len(match.group("rest").split()) >= 2 else query


def _keywords(text: str) -> list[str]:
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'-]*", text)
    return list(dict.fromkeys(w for w in words if w.casefold() not in STOPWORDS and len(w) > 1))


def _no_result_report(request: ParsedRequest) -> str:
    lines = ["# Research report", "", "## Summary", ""]
    lines.append("Overall, no catalog product I could verify meets every requirement:")
    lines += [f"- {line}" for line in request.requirement_lines]
    lines.append("")
    lines.append("I recommend relaxing one requirement (for example the budget) and searching again.")
    return "\n".join(lines)


def _text(content: str) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def _calls(turn: int, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{turn}_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
            for i, (name, arguments) in enumerate(calls)
        ],
    }


def make_policy(job: object | None = None) -> ScriptedPolicy:
    """Rollout factory (``factory(job) -> Policy``): a fresh scripted agent per episode."""
    return ScriptedPolicy()


__all__ = ["ScriptedPolicy", "make_policy", "money"]
