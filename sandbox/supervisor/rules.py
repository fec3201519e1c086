"""The rule-based supervisor: concrete, catalog-grounded checks with specific critiques.

Plan
    ``plan_present`` (a plan of at least a few words before acting), ``plan_actionable`` (it says how: search,
    compare, check, ...), ``plan_covers_constraints`` (it mentions every hard constraint; for shopping tasks the
    budget/voucher and same-shop requirements).
Tool call
    ``tool_call_valid`` (the call ran without error), ``tool_call_not_repeated`` (no earlier call had the same
    tool and arguments), ``tool_call_relevant`` (a search found something; for research tasks at least one
    hit / visited product meets the task's hard constraints; a web call returned at least one usable result).
Report (research tasks)
    ``citations_exist`` (every ``[P:id]`` is in the catalog), ``claims_grounded`` (prices, ratings, brands and
    attribute values next to citations agree with the catalog: :mod:`sandbox.rewards.grounding`),
    ``products_meet_constraints`` (every cited product meets every hard constraint), ``constraints_addressed``
    (the report mentions each hard constraint), ``enough_products`` (at least ``min_products`` distinct cited
    products meet the constraints), ``rubric_coverage`` (each rubric dimension: at least half of its criteria
    are evidenced by one of their keywords), ``web_citations_seen`` (every ``[W:url]`` came from a web result).
Recommendation (shopping tasks)
    ``item_count``, ``same_shop``, ``price_ranges``, ``services`` and ``budget_after_voucher`` against what the
    request states (never against the hidden target product).
"""

from __future__ import annotations

import json
from math import ceil

from sandbox.catalog.backend import products_by_id
from sandbox.catalog.product import Product
from sandbox.citations import product_citations, web_citations
from sandbox.rewards.metrics import report_metrics
from sandbox.rewards.shoppingbench import price_after_voucher
from sandbox.safety.quoting import quote_data
from sandbox.supervisor.protocol import Critique, FinalAnswer, SupervisorContext, ToolCallRecord, Verdict
from sandbox.tasks.models import ResearchTask, ShoppingTask, format_money, mentions
from sandbox.tools.catalog_tools import ProductSearchResult, VisitProductResult

MAX_CRITIQUES_PER_CHECK = 5
MIN_PLAN_WORDS = 8
_ACTION_WORDS = (
    "search",
    "look",
    "find",
    "compare",
    "check",
    "visit",
    "verify",
    "browse",
    "calculate",
    "filter",
    "review",
    "read",
    "research",
    "shortlist",
)


def _cap(critiques: list[Critique], check: str, what: str) -> list[Critique]:
    """At most ``MAX_CRITIQUES_PER_CHECK`` per check, with a note on how many more there were."""
    if len(critiques) <= MAX_CRITIQUES_PER_CHECK:
        return critiques
    extra = len(critiques) - MAX_CRITIQUES_PER_CHECK
    note = Critique(
        check=check, message=f"{extra} more {what} like these.", where="report", fix="Fix them all."
    )
    return critiques[:MAX_CRITIQUES_PER_CHECK] + [note]


def _filters_hint(task: ResearchTask) -> str:
    filters = task.constraints.to_filters().model_dump(exclude_defaults=True)
    return json.dumps(filters, ensure_ascii=False) if filters else "{}"


class RuleBasedSupervisor:
    """Implements :class:`~sandbox.supervisor.protocol.Supervisor` with the rules in the module docstring."""

    def __init__(self, *, min_plan_words: int = MIN_PLAN_WORDS, check_rubric: bool = True) -> None:
        self.min_plan_words = min_plan_words
        self.check_rubric = check_rubric

    # -- plan ---------------------------------------------------------------------------------------------------

    def check_plan(self, plan: str | None, ctx: SupervisorContext) -> Verdict:
        checks = ["plan_present", "plan_actionable", "plan_covers_constraints"]
        text = (plan or "").strip()
        if len(text.split()) < self.min_plan_words:
            shown = "no plan" if not text else f"a plan of {len(text.split())} words"
            critique = Critique(
                check="plan_present",
                message=f"the first turn has {shown}; state a plan before acting.",
                where="plan (first assistant turn)",
                fix=f"Write a short plan ({self.min_plan_words}+ words): what you will search for, which "
                "requirements you will check and how you will decide.",
            )
            return Verdict.of("plan", checks, [critique])
        critiques: list[Critique] = []
        if not any(mentions(text, word) or word in text.casefold() for word in _ACTION_WORDS):
            critiques.append(
                Critique(
                    check="plan_actionable",
                    message="the plan does not say how you will research (no search, compare or check step).",
                    where="plan",
                    fix="Name the steps: which searches you will run, what you will compare and verify.",
                )
            )
        task = ctx.task
        if isinstance(task, ResearchTask):
            for name, words in task.constraints.uncovered(text):
                critiques.append(
                    Critique(
                        check="plan_covers_constraints",
                        message=f"the plan never mentions the requirement '{words}' ({name}).",
                        where="plan",
                        fix=f"Say how you will make sure every product meets '{words}'.",
                    )
                )
        else:
            critiques.extend(self._shopping_plan(text, task))
        return Verdict.of("plan", checks, critiques)

    @staticmethod
    def _shopping_plan(text: str, task: ShoppingTask) -> list[Critique]:
        out = []
        folded = text.casefold()
        if task.voucher is not None:
            budget = format_money(task.voucher.budget, None)
            if not any(w in folded for w in ("budget", "voucher", "discount", budget.casefold())):
                out.append(
                    Critique(
                        check="plan_covers_constraints",
                        message=f"the plan never mentions the budget of {budget} or the voucher.",
                        where="plan",
                        fix="Say how you will keep the total within the budget after applying the voucher.",
                    )
                )
        if task.same_shop and not any(w in folded for w in ("shop", "seller", "store")):
            out.append(
                Critique(
                    check="plan_covers_constraints",
                    message="the plan never mentions that all items must come from the same shop.",
                    where="plan",
                    fix="Say how you will find one shop that sells every requested item.",
                )
            )
        return out

    # -- tool calls ---------------------------------------------------------------------------------------------

    def check_tool_call(self, call: ToolCallRecord, ctx: SupervisorContext) -> Verdict:
        checks = ["tool_call_valid", "tool_call_not_repeated", "tool_call_relevant"]
        where = f"tool call #{call.index} ({call.name})"
        if not call.ok:
            fix = {
                "unknown_tool": "Call one of the tools listed in the tool schemas.",
                "bad_json": "Send the arguments as one valid JSON object.",
                "unknown_product_id": "Use product ids exactly as product_search returned them.",
            }.get(call.error_kind or "", "Correct the call as the error message says and try again.")
            critique = Critique(
                check="tool_call_valid",
                message=f"the call failed: {quote_data(call.error or '', 300)}",
                where=where,
                fix=fix,
            )
            return Verdict.of("tool_call", checks, [critique])
        critiques: list[Critique] = []
        earlier = ctx.signatures.get(call.signature)
        if earlier is not None:
            critiques.append(
                Critique(
                    check="tool_call_not_repeated",
                    message=f"this repeats tool call #{earlier} with identical arguments; the result is the same.",
                    where=where,
                    fix="Change the query, filters, sort or page, or move on to other products.",
                )
            )
        critiques.extend(self._relevance(call, ctx, where))
        return Verdict.of("tool_call", checks, critiques)

    def _relevance(self, call: ToolCallRecord, ctx: SupervisorContext, where: str) -> list[Critique]:
        result = call.result
        task = ctx.task
        if isinstance(result, ProductSearchResult):
            if not result.hits:
                return [
                    Critique(
                        check="tool_call_relevant",
                        message=f"the search for {result.query!r} returned no products (total {result.total}).",
                        where=where,
                        fix="Use fewer or more general words, relax the filters, or go back to page 1.",
                    )
                ]
            if isinstance(task, ResearchTask) and not task.constraints.is_empty():
                products = [p for p in ctx.backend.get_products([h.id for h in result.hits]) if p is not None]
                return self._constraint_relevance(products, task, where, "hits")
            return []
        if isinstance(result, VisitProductResult) and isinstance(task, ResearchTask) and result.products:
            if task.constraints.is_empty():
                return []
            products = [p for p in ctx.backend.get_products([r.id for r in result.products]) if p is not None]
            return self._constraint_relevance(products, task, where, "visited products")
        items = getattr(result, "items", None)
        if call.name in ("web_search", "web_visit") and isinstance(items, list) and items:
            usable = [
                item
                for item in items
                if not getattr(item, "error", None)
                and (getattr(item, "results", None) or getattr(item, "evidence", None))
            ]
            if not usable:
                what = (
                    "no query returned results"
                    if call.name == "web_search"
                    else "no page had evidence for the goal"
                )
                return [
                    Critique(
                        check="tool_call_relevant",
                        message=f"{what}.",
                        where=where,
                        fix="Rephrase the queries or the goal, or read other pages.",
                    )
                ]
        return []

    @staticmethod
    def _constraint_relevance(
        products: list[Product], task: ResearchTask, where: str, what: str
    ) -> list[Critique]:
        if not products or any(task.constraints.satisfied_by(p) for p in products):
            return []
        first = task.constraints.check(products[0])[0]
        return [
            Critique(
                check="tool_call_relevant",
                message=f"none of the {len(products)} {what} meets the task's hard constraints (e.g. {first.message}).",
                where=where,
                fix=f"Search with filters that enforce them, e.g. filters={_filters_hint(task)}.",
            )
        ]

    # -- final answer -------------------------------------------------------------------------------------------

    def check_answer(self, answer: FinalAnswer, ctx: SupervisorContext) -> Verdict:
        task = ctx.task
        if isinstance(task, ShoppingTask):
            return self._check_recommendation(answer, task, ctx)
        return self._check_report(answer.report or "", task, ctx)

    def _check_report(self, report: str, task: ResearchTask, ctx: SupervisorContext) -> Verdict:
        checks = [
            "citations_exist",
            "claims_grounded",
            "products_meet_constraints",
            "constraints_addressed",
            "enough_products",
            "rubric_coverage",
            "web_citations_seen",
        ]
        metrics, products, claim_checks = report_metrics(report, ctx.backend, task.constraints)
        critiques: list[Critique] = []
        lines = {c.target: c.line for c in reversed(product_citations(report))}
        unknown = [
            Critique(
                check="citations_exist",
                message=f"[P:{pid}] is not a product of catalog {getattr(ctx.backend, 'snapshot_id', '?')}.",
                where=f"report line {lines.get(pid, '?')}",
                fix="Cite only ids returned by product_search or visit_product, copied exactly.",
            )
            for pid in metrics.unknown_ids
        ]
        critiques += _cap(unknown, "citations_exist", "unknown ids")
        wrong = [
            Critique(
                check="claims_grounded",
                message=f"{c.claim.kind} '{' / '.join(c.claim.values)}' next to "
                f"{', '.join(f'[P:{p}]' for p in c.claim.product_ids)} disagrees with the catalog: {c.catalog}.",
                where=f"report line {c.claim.line}",
                fix=f"State the catalog's {c.claim.kind} for this product, or remove the claim.",
            )
            for c in claim_checks
            if c.verdict == "disagrees"
        ]
        critiques += _cap(wrong, "claims_grounded", "wrong claims")
        violating = []
        for pid in metrics.cited_ids:
            product = products.get(pid)
            if product is None:
                continue
            for violation in task.constraints.check(product):
                violating.append(
                    Critique(
                        check="products_meet_constraints",
                        message=f"[P:{pid}] fails the hard constraint '{violation.constraint}': {violation.message}.",
                        where=f"report line {lines.get(pid, '?')}",
                        fix="Replace it with a product that meets every requirement, or drop it.",
                    )
                )
        critiques += _cap(violating, "products_meet_constraints", "constraint violations")
        for name, words in task.constraints.uncovered(report):
            critiques.append(
                Critique(
                    check="constraints_addressed",
                    message=f"the report never addresses the requirement '{words}' ({name}).",
                    where="report",
                    fix=f"Say explicitly how the recommended products meet '{words}'.",
                )
            )
        if metrics.constraint_satisfying_count < task.min_products:
            critiques.append(
                Critique(
                    check="enough_products",
                    message=f"the report cites {metrics.constraint_satisfying_count} distinct catalog products that "
                    f"meet the requirements; the task asks for at least {task.min_products}.",
                    where="report",
                    fix="Research and cite more qualifying products as [P:<id>].",
                )
            )
        if self.check_rubric:
            critiques += self._rubric(report, task)
        seen = ctx.seen_urls
        for citation in web_citations(report):
            if citation.target not in seen:
                critiques.append(
                    Critique(
                        check="web_citations_seen",
                        message=f"[W:{citation.target}] never appeared in a web_search or web_visit result.",
                        where=f"report line {citation.line}",
                        fix="Cite only pages you found with web_search or read with web_visit.",
                    )
                )
        return Verdict.of("answer", checks, critiques, metrics=metrics.model_dump())

    @staticmethod
    def _rubric(report: str, task: ResearchTask) -> list[Critique]:
        out = []
        for dimension in task.rubric.dimensions:
            met = [
                c
                for c in dimension.criteria
                if any(mentions(report, k) or (not k[:1].isalnum() and k in report) for k in c.keywords)
            ]
            needed = ceil(len(dimension.criteria) / 2)
            if len(met) < needed:
                missing = [c.text for c in dimension.criteria if c not in met]
                out.append(
                    Critique(
                        check="rubric_coverage",
                        message=f"the report does not cover the '{dimension.name}' dimension "
                        f"(missing: {'; '.join(missing)}).",
                        where="report",
                        fix=f"Add what the '{dimension.name}' dimension asks for.",
                    )
                )
        return out

    @staticmethod
    def _check_recommendation(answer: FinalAnswer, task: ShoppingTask, ctx: SupervisorContext) -> Verdict:
        checks = ["item_count", "same_shop", "price_ranges", "services", "budget_after_voucher"]
        ids = answer.product_ids
        products = products_by_id(ctx.backend, ids)
        chosen = [products.get(pid) for pid in ids]
        critiques: list[Critique] = []
        n = len(task.items)
        if len(ids) != n:
            critiques.append(
                Critique(
                    check="item_count",
                    message=f"{len(ids)} products recommended; the request asks for {n}.",
                    where="recommend_products",
                    fix=f"Recommend exactly {n} product id{'s' if n > 1 else ''}, one per requested item, in order.",
                )
            )
        known = [p for p in chosen if p is not None]
        if task.same_shop and len({p.shop_id for p in known}) > 1:
            shops = ", ".join(f"{p.product_id} from shop {p.shop_id}" for p in known)
            critiques.append(
                Critique(
                    check="same_shop",
                    message=f"the products come from different shops ({shops}).",
                    where="recommend_products",
                    fix="Find one shop that sells every item (product_search with filters.shop_id).",
                )
            )
        for position, (product, target) in enumerate(zip(chosen, task.items, strict=False), 1):
            if product is None:
                continue
            for price_range in target.price:
                if not price_range.contains(product.price):
                    critiques.append(
                        Critique(
                            check="price_ranges",
                            message=f"item {position}: {product.product_id} costs "
                            f"{format_money(product.price, product.currency) if product.price is not None else 'an unknown price'}; "
                            f"the request wants {price_range.describe(task.currency)}.",
                            where=f"recommend_products item {position}",
                            fix="Pick a product in the requested price range.",
                        )
                    )
            offered = {s.casefold() for s in product.services}
            for service in target.service:
                if service.casefold() not in offered:
                    critiques.append(
                        Critique(
                            check="services",
                            message=f"item {position}: {product.product_id} does not offer the service '{service}'.",
                            where=f"recommend_products item {position}",
                            fix=f"Pick a product with '{service}' (filters.services).",
                        )
                    )
        voucher = task.voucher
        known_prices = [p.price for p in known if p.price is not None]
        if voucher is not None and known and len(known_prices) == len(known):
            total = float(sum(float(price) for price in known_prices))
            after = price_after_voucher(total, voucher, len({p.shop_id for p in known}))
            payable = total if after is None else min(total, after)
            if payable > voucher.budget:
                why = (
                    "the voucher does not apply" if after is None else f"after the voucher it is {after:.2f}"
                )
                critiques.append(
                    Critique(
                        check="budget_after_voucher",
                        message=f"the total is {total:.2f}; {why}, over the budget of {voucher.budget:g}.",
                        where="recommend_products",
                        fix="Choose cheaper products (or one shop, for a shop voucher) so the total fits the budget.",
                    )
                )
        return Verdict.of("answer", checks, critiques)
