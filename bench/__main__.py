"""Run the benchmarks: ``python -m bench`` runs every ``bench/bench_*.py``; name some to run
only those (``python -m bench core`` or ``python -m bench bench_core``)."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    """Run the named benchmark modules (all when none is named) and return an exit code."""
    available = sorted(p.stem for p in HERE.glob("bench_*.py"))
    wanted = [a if a.startswith("bench_") else f"bench_{a}" for a in argv] or available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}",
            file=sys.stderr,
        )
        return 2
    failed = 0
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        result = module.main()
        print(f"=== {name} done in {time.perf_counter() - start:.1f}s ===", flush=True)
        if result:
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
