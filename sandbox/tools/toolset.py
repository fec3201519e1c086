"""The tools one episode offers (DESIGN section 4), in the order the agent sees them.

Research and shopping episodes share the read tools (``product_search``, ``visit_product``, ``web_search``,
``web_visit`` when a web tool is configured, ``calculate``) and differ in their one write tool:
``submit_report`` for research tasks, ``recommend_products`` for shopping tasks.
"""

from __future__ import annotations

from typing import Literal

from sandbox.catalog.backend import CatalogBackend
from sandbox.tools.answer_tools import AnswerTools
from sandbox.tools.calculate import calculate
from sandbox.tools.catalog_tools import CatalogTools
from sandbox.tools.registry import Tool, ToolRegistry
from sandbox.tools.web_tools import WebToolAdapter, WebToolProvider

FINAL_TOOLS = {"research": "submit_report", "shopping": "recommend_products"}


def build_toolset(
    backend: CatalogBackend,
    *,
    task_kind: Literal["research", "shopping"],
    web: WebToolProvider | None = None,
    page_size: int = 10,
) -> ToolRegistry:
    """A registry with the read tools and the final-answer tool of ``task_kind``."""
    catalog = CatalogTools(backend, page_size=page_size)
    answers = AnswerTools(backend)
    tools = [
        Tool.from_function(catalog.product_search, "read"),
        Tool.from_function(catalog.visit_product, "read"),
    ]
    if web is not None:
        adapter = WebToolAdapter(web)
        tools += [
            Tool.from_function(adapter.web_search, "read"),
            Tool.from_function(adapter.web_visit, "read"),
        ]
    tools.append(Tool.from_function(calculate, "read"))
    if task_kind == "research":
        tools.append(Tool.from_function(answers.submit_report, "write"))
    else:
        tools.append(Tool.from_function(answers.recommend_products, "write"))
    return ToolRegistry(tools)
