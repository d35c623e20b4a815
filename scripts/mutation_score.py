"""Print the mutation score of each module `make mutation` mutates, from mutmut's results.

A mutant is killed when the unit tests failed on it (or it timed out, crashed, or failed to
type-check); it survived when they passed. Every survivor must be named, with the reason
it is equivalent to the original code, in tests/mutation-equivalents.md: the command fails
when one is not, or when a module scores under the threshold.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

THRESHOLD = 95.0
ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tests" / "mutation-equivalents.md"
KILLED = {1, 3, 24, -24, 36, 37, 152, 255, -9, -11}
SURVIVED = {0}


def main() -> int:
    """Print per-module scores and undocumented survivors; non-zero when either fails."""
    documented = set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", EQUIVALENTS.read_text()))
    metas = sorted((ROOT / "mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutmut results under mutants/: run `make mutation`", file=sys.stderr)
        return 2
    ok = True
    for meta in metas:
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        module = meta.relative_to(ROOT / "mutants").as_posix().removesuffix(".meta")
        tally: Counter[str] = Counter()
        survivors = []
        for name, code in codes.items():
            if code in KILLED:
                tally["killed"] += 1
            elif code in SURVIVED:
                tally["survived"] += 1
                survivors.append(name)
            else:
                tally["not run"] += 1
        total = len(codes)
        score = 100.0 * tally["killed"] / total
        equivalent = [s for s in survivors if s in documented]
        unexplained = [s for s in survivors if s not in documented]
        real = total - len(equivalent)
        print(
            f"{module}: {score:.1f}% of {total} mutants killed "
            f"({tally['killed']} killed, {tally['survived']} survived, of which "
            f"{len(equivalent)} documented as equivalent; "
            f"{100.0 * tally['killed'] / max(real, 1):.1f}% of the {real} non-equivalent)"
        )
        if tally["not run"]:
            print(f"  {tally['not run']} mutants were not run")
            ok = False
        for name in unexplained:
            print(
                f"  survived, not explained in {EQUIVALENTS.relative_to(ROOT)}: {name}"
                f" (mutmut show {name})"
            )
        ok = ok and not unexplained and score >= THRESHOLD
    print("mutation score: " + ("ok" if ok else f"FAILED (threshold {THRESHOLD}%)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
