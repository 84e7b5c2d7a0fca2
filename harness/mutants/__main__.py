"""``python -m harness.mutants [--workers N]``: hunt every mutant and print the table."""

from __future__ import annotations

import argparse

from harness.mutants import table


def main() -> None:
    """Print the mutant table (Markdown)."""
    parser = argparse.ArgumentParser(prog="python -m harness.mutants", description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="thread workers (default 2)")
    args = parser.parse_args()
    for line in table(workers=args.workers):
        print(line, flush=True)


if __name__ == "__main__":
    main()
