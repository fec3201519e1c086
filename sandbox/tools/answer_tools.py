"""The two *write* tools: ``recommend_products`` (shopping tasks) and ``submit_report`` (research tasks).

They commit a final answer. The functions here only check what can be checked without the task (the answer is
well-formed, the recommended ids exist); the env then hands the answer to the supervisor, whose verdict is
added to the receipt the agent reads (``verdict``: accepted / rejected, and how many revisions remain).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sandbox.catalog.backend import CatalogBackend
from sandbox.citations import product_citations, web_citations
from sandbox.tools.registry import ToolError, ToolResult

MAX_REPORT_CHARS = 30_000
MAX_RECOMMENDED = 10

VerdictStatus = Literal["accepted", "rejected"]


class AnswerVerdict(ToolResult):
    """The supervisor's decision on a final answer, as the agent reads it in the tool result."""

    status: VerdictStatus
    failed_checks: list[str] = Field(default_factory=list)
    revisions_left: int = 0
    note: str | None = None


class RecommendationReceipt(ToolResult):
    product_ids: list[str]
    verdict: AnswerVerdict | None = None


class ReportReceipt(ToolResult):
    chars: int
    product_citations: int
    distinct_products: int
    web_citations: int
    verdict: AnswerVerdict | None = None


class AnswerTools:
    """Final-answer tools bound to the catalog (to reject recommendations of ids that do not exist)."""

    def __init__(self, backend: CatalogBackend) -> None:
        self.backend = backend

    def recommend_products(
        self,
        product_ids: Annotated[
            list[Annotated[str, Field(max_length=200)]], Field(min_length=1, max_length=MAX_RECOMMENDED)
        ],
    ) -> RecommendationReceipt:
        """Give the final answer of a shopping task: the ids of the products you recommend.

        For a task that asks for several items, list one product per item, in the order the task names them.

        Args:
            product_ids: Product ids exactly as product_search returned them, one per requested item.
        """
        ids = [pid.strip() for pid in product_ids]
        found = self.backend.get_products(ids)
        missing = [pid for pid, product in zip(ids, found, strict=True) if product is None]
        if missing:
            raise ToolError(
                f"these ids are not in the catalog: {', '.join(missing[:5])}; recommend ids returned by "
                "product_search or visit_product",
                field="product_ids",
            )
        return RecommendationReceipt(product_ids=ids)

    def submit_report(
        self, report: Annotated[str, Field(min_length=1, max_length=MAX_REPORT_CHARS)]
    ) -> ReportReceipt:
        """Submit the final research report. Cite every product as [P:<product_id>] and every web page as [W:<url>].

        State each cited product's price and key attributes as the catalog lists them; the supervisor checks
        citations, prices, attributes, the task's requirements and coverage, and may ask for a revision.

        Args:
            report: The full report in Markdown.
        """
        if not report.strip():
            raise ToolError("the report is empty", field="report")
        cited = [c.target for c in product_citations(report)]
        return ReportReceipt(
            chars=len(report),
            product_citations=len(cited),
            distinct_products=len(set(cited)),
            web_citations=len(web_citations(report)),
        )
