"""Run every benchmark in bench/ (``bench_*.py``) in turn and print its output.

Run: .venv/bin/python bench/run_all.py [NAME ...]   (``make bench``)

Each script runs with its own defaults in a child process with this interpreter; its output
is streamed as it comes. Names (``snapshot`` or ``bench_snapshot.py``) select some scripts.
Exits non-zero when a script failed, after running the others.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def selected(names: list[str]) -> list[Path]:
    scripts = sorted(BENCH.glob("bench_*.py"))
    if not names:
        return scripts
    wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
    chosen = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    unknown = wanted - {s.stem.removeprefix("bench_") for s in chosen}
    if unknown:
        known = ", ".join(s.stem.removeprefix("bench_") for s in scripts)
        sys.exit(f"no benchmark named {', '.join(sorted(unknown))}; known: {known}")
    return chosen


def main() -> int:
    failed: list[str] = []
    for script in selected(sys.argv[1:]):
        print(f"\n=== {script.name} ===", flush=True)
        began = time.monotonic()
        code = subprocess.run([sys.executable, str(script)], check=False).returncode
        took = time.monotonic() - began
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"=== {script.name}: {status} in {took:,.0f} s ===", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
