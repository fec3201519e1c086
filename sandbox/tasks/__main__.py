"""``python -m sandbox.tasks`` is gone: ``prgym tasks`` is the one task CLI (generate, synthesize, shoppingbench).

Kept as a pointer so old scripts fail with the command to use instead of an import error; it runs nothing.
"""

from __future__ import annotations

import sys

MESSAGE = (
    "python -m sandbox.tasks is replaced by `prgym tasks`: "
    "prgym tasks generate --catalog DIR -n 500 --seed 0 --out research.jsonl [--fractions 0.8,0.1,0.1]; "
    "prgym tasks shoppingbench --src DIR --out shopping.jsonl; prgym tasks synthesize --catalog DIR ... "
    "(see prgym tasks --help)"
)


def main(argv: list[str] | None = None) -> int:
    """Print where the commands went; exit 2 (the command the user typed no longer exists)."""
    print(f"error: {MESSAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
