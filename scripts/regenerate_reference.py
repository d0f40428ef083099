"""Regenerate the committed regression baseline of summary figures (run on purpose only).

    .venv/bin/python scripts/regenerate_reference.py [--check]

Writes tests/reference/baseline_summary.json from fixed-seed runs (see
tests/reference/regression.py). Regenerate only when a change of results is intended
(a new behaviour or a recalibration), and say so in the commit message; an optimisation
must leave the figures unchanged (tests/test_regression_baseline.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from reference.regression import BASELINE_PATH, compare, regression_figures  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare with the committed baseline; write nothing")
    args = parser.parse_args()
    path = BASELINE_PATH
    figures = regression_figures()
    if args.check:
        diffs = compare(json.loads(path.read_text()), figures)
        print("\n".join(diffs) if diffs else "same figures as the committed baseline")
        return 1 if diffs else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
