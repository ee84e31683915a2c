"""``python -m ruvector_conformance [--backend NAME ...] [pytest args]``."""

import argparse
import sys

from .runner import run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m ruvector_conformance", description=__doc__)
    parser.add_argument("--backend", action="append", default=[], help="backend name (repeatable)")
    parser.add_argument("--report", help="write the matrix as JSON here")
    known, rest = parser.parse_known_args()
    return run(known.backend, known.report, rest)


if __name__ == "__main__":
    sys.exit(main())
