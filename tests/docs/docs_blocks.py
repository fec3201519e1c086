"""A small Markdown reader for the docs tests: fenced code blocks and option tables of README.md and docs/*.md.

Only what the docs use: fences of three or more backticks or tildes (an info string names the language), pipe
tables, and ``#`` headings. Kept apart from the tests so both docs suites read the files the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Every file whose commands and snippets must run (or be skipped with a reason).
DOC_FILES = ("README.md", *sorted(f"docs/{p.name}" for p in (REPO_ROOT / "docs").glob("*.md")))
#: Languages that are commands or code a reader would run; every other fence is output, config or data.
RUNNABLE = frozenset({"bash", "console", "python", "sh", "shell"})

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and the key the coverage tables use."""

    file: str
    line: int  # 1-based line of the opening fence
    lang: str
    text: str

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.text.splitlines() if line.strip()), "")

    @property
    def key(self) -> str:
        """``file: first line``: stable while the block's first line stays, unlike line numbers."""
        return f"{self.file}: {self.first_line}"


def read_blocks(relative: str, root: Path = REPO_ROOT) -> list[Block]:
    """Every fenced block of one Markdown file, in order (an unclosed fence runs to the end, as renderers do)."""
    lines = (root / relative).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        lang = match["info"].strip().split(" ")[0].lower() if match["info"].strip() else ""
        start, body = i + 1, []
        i += 1
        while i < len(lines):
            closing = lines[i].strip()
            if closing.startswith(fence[0] * len(fence)) and closing.strip(fence[0]) == "":
                break
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        blocks.append(Block(relative, start, lang, "\n".join(body) + "\n"))
        i += 1
    return blocks


def all_blocks(root: Path = REPO_ROOT) -> list[Block]:
    return [block for name in DOC_FILES for block in read_blocks(name, root)]


def shell_lines(text: str) -> list[str]:
    """The commands of a bash/console block: continuation lines joined, ``$`` prompts and comment lines dropped.

    In a ``console`` block only ``$`` lines are commands (the rest is the output they print).
    """
    commands: list[str] = []
    pending = ""
    console = any(line.startswith("$ ") for line in text.splitlines())
    for raw in text.splitlines():
        line = raw.rstrip()
        if console and not pending:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append(" ".join((pending + line).split()) if pending else line.strip())
        pending = ""
    if pending:
        commands.append(pending.strip())
    return commands


def strip_comment(command: str) -> str:
    """A command without its trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = ""
    for index, char in enumerate(command):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or command[index - 1].isspace()):
            return command[:index].rstrip()
    return command.rstrip()


@dataclass(frozen=True)
class OptionTable:
    """A ``| option | ... |`` table under a ``### `prgym COMMAND` `` heading: the options it documents."""

    file: str
    command: tuple[str, ...]  # ("run",) for `prgym run`
    options: tuple[str, ...]  # every --flag named in the first column, in order


def option_tables(relative: str, root: Path = REPO_ROOT) -> list[OptionTable]:
    tables: list[OptionTable] = []
    command: tuple[str, ...] | None = None
    in_table = False
    options: list[str] = []
    for line in (root / relative).read_text(encoding="utf-8").splitlines() + [""]:
        heading = re.match(r"^#+\s+`prgym ([a-z][a-z -]*)`\s*$", line)
        if heading:
            command = tuple(heading[1].split())
            continue
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not in_table:
                in_table = cells[0] == "option"
                options = []
                continue
            options.extend(re.findall(r"--[a-z][a-z0-9-]*", cells[0]))
            continue
        if in_table and command is not None:
            tables.append(OptionTable(relative, command, tuple(options)))
        in_table = False
    return tables
