"""docs/harness.md "How one tool call flows" names real files and functions.

The section is the map a newcomer follows from the agent's message to the trace line; a refactor that renames a
hop (the env.step split did) must update it. Every backticked ``path.py`` must exist, every ``path.py: Name`` or
``path.py: Class.method`` must be defined in that file, and every backticked private ``_name`` must be a method
of ``sandbox/env/core.py`` or of the recorder, where the section says the step and the recording happen.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.docs.docs_blocks import REPO_ROOT

SECTION = "## How one tool call flows"
HOPS = ("Agent message", "env.step", "Registry", "Tool", "Backend", "Observation", "Recorder")


def _section() -> str:
    text = (REPO_ROOT / "docs" / "harness.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return text[start:end]


def _defined(path: Path) -> set[str]:
    """Names of the classes and functions of ``path`` and ``Class.method`` for their methods."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
    return names


def test_the_section_names_every_hop_in_order() -> None:
    section = _section()
    positions = [
        section.find(f"**{hop}") if hop != "env.step" else section.find("**`env.step`**") for hop in HOPS
    ]
    assert all(p >= 0 for p in positions), dict(zip(HOPS, positions, strict=True))
    assert positions == sorted(positions)


def test_every_named_file_and_function_exists() -> None:
    section = _section()
    checked = 0
    for path_text, symbols in re.findall(r"`([\w/]+\.py)(?::\s*([^`]+))?`", section):
        path = REPO_ROOT / path_text
        assert path.is_file(), f"{path_text} named in docs/harness.md does not exist"
        checked += 1
        defined = _defined(path)
        for symbol in filter(None, (s.strip() for s in symbols.split(","))):
            assert symbol in defined or symbol.split(".")[-1] in defined, f"{path_text}: no {symbol}"
    assert checked >= 12
    private = set(re.findall(r"`(_\w+)`", section))
    owners = _defined(REPO_ROOT / "sandbox/env/core.py") | _defined(REPO_ROOT / "sandbox/recorder/wrapper.py")
    assert private and not {p for p in private if p not in owners}, private - owners
