"""Module layering inside ``sandbox``: no tool module reaches a reward module by imports, nor the other way.

Both need cited ids looked up and citations parsed; those live in neutral modules (``sandbox.catalog.backend.
products_by_id``, ``sandbox.citations``), so a reward change cannot drag the tool layer in and the other way round.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_graph() -> dict[str, set[str]]:
    """Each ``sandbox`` module -> the ``sandbox`` modules it imports (at module level or inside functions)."""
    paths = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (ROOT / "sandbox").rglob("*.py")
    }
    edges: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from pkg import module`` imports the module too
                candidates = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            targets.update(c for c in candidates if c in paths)
        edges[name] = targets
    return edges


def _reaches(edges: dict[str, set[str]], package: str, other: str) -> list[str]:
    """Modules of ``other`` reachable from the modules of ``package``."""
    todo = [m for m in edges if m == package or m.startswith(package + ".")]
    seen = set(todo)
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return sorted(m for m in seen if m == other or m.startswith(other + "."))


def test_tools_and_rewards_do_not_import_each_other() -> None:
    edges = _module_graph()
    assert "sandbox.tools.answer_tools" in edges and "sandbox.rewards.metrics" in edges
    assert _reaches(edges, "sandbox.tools", "sandbox.rewards") == []
    assert _reaches(edges, "sandbox.rewards", "sandbox.tools") == []
    assert "sandbox.citations" in edges["sandbox.tools.answer_tools"] & edges["sandbox.rewards.metrics"]
