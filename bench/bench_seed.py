"""Seed N person accounts into a fresh emulator state dir and print how long it took.

Usage: .venv/bin/python bench/bench_seed.py [PERSON_ACCOUNTS] (default 1,000,000).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from veeva_marketo_sync.emulators.veeva import seed
from veeva_marketo_sync.emulators.veeva.queries import run_query
from veeva_marketo_sync.emulators.veeva.store import Store


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        report = seed(state, count, seed=7)
        print(f"seeded {count:,} person accounts in {report.seconds:.1f} s")
        for name, rows in report.counts.items():
            print(f"  {name:26} {rows:>10,}")
        store = Store(state)
        try:
            soql = (
                "SELECT Id, FirstName, LastName, PersonEmail, SystemModstamp FROM Account "
                "WHERE IsPersonAccount = true AND RecordType.DeveloperName = 'Professional_vod' "
                "AND SystemModstamp >= 2000-01-01T00:00:00Z ORDER BY SystemModstamp, Id"
            )
            began = time.perf_counter()
            page = run_query(store, soql, include_deleted=False, batch_size=2000, version="59.0")
            first = time.perf_counter() - began
            print(
                f"first page of the change query: {first * 1000:.0f} ms "
                f"(totalSize={page['totalSize']:,})"
            )
            began = time.perf_counter()
            tail = soql.replace("2000-01-01T00:00:00Z", report.now.replace("+00:00", "Z"))
            page = run_query(store, tail, include_deleted=False, batch_size=2000, version="59.0")
            print(
                f"incremental query at the watermark: "
                f"{(time.perf_counter() - began) * 1000:.0f} ms (totalSize={page['totalSize']})"
            )
        finally:
            store.close()


if __name__ == "__main__":
    main()
