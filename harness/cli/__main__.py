"""``python -m harness.cli``: the same as the ``prgym`` script."""

from harness.cli import main

main()
