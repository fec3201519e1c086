"""The env docstring's tool table and default weights say what the code does (Gymnasium-style docs)."""

from __future__ import annotations

import re

from sandbox.env import ENV_VERSION, ProductResearchEnv
from sandbox.rewards.reward import DEFAULT_RESEARCH_WEIGHTS, DEFAULT_SHOPPING_WEIGHTS
from sandbox.tools.toolset import FINAL_TOOLS

DOC = ProductResearchEnv.__doc__ or ""


def test_docstring_tags_every_final_tool_write_and_lists_the_read_tools() -> None:
    for tool in FINAL_TOOLS.values():
        assert re.search(rf"``{tool}``\s+write", DOC), tool
    for tool in ("product_search", "visit_product", "calculate"):
        assert re.search(rf"``{tool}``\s+read", DOC), tool


def test_docstring_gives_the_default_weights_and_version() -> None:
    for weights in (DEFAULT_RESEARCH_WEIGHTS, DEFAULT_SHOPPING_WEIGHTS):
        for name, weight in weights.items():
            assert f"``{name}`` {weight:g}" in DOC.replace("\\n    ", " ").replace("\n    ", " "), name
    assert "## Version History" in DOC and ENV_VERSION in DOC
