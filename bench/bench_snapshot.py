"""End-to-end snapshot of N person accounts: Veeva emulator -> Kafka -> Marketo emulator.

Run: .venv/bin/python bench/bench_snapshot.py [--person-accounts N] [--runs a,b]

Seeds N person accounts (the other objects scale with N: calls, call key messages, medical
inquiries, users), starts a real Kafka broker, both emulators and the three components
(``vmsync run marketo-writer|processor|veeva-producer``) as processes, and times the snapshot
until every Professional person account and every custom-object record published by the
producer is written in Marketo and both consumer groups have caught up. Twice:

  (a) Marketo's limits off: the emulator's rate, concurrency and daily quota unlimited, and the
      product's own budget (``marketo.window_seconds``/``daily_quota``) lifted to match, so the
      pipeline's own capacity shows (``--keep-client-budget`` keeps the product's defaults);
  (b) Marketo's limits on at the real values (100 calls / 20 s, 10 concurrent, 50,000/day) and
      the product's budget at its defaults.

Prints, per run: end-to-end records/s, Marketo and Veeva calls per 1,000 records, peak RSS per
component and the wall time of each phase; then the ratio of (a) to (b). A run that does not
finish within ``--run-timeout`` prints what it did by then and an extrapolated duration.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from devstack import (  # noqa: E402
    Emulators,
    Process,
    create_topics,
    group_caught_up,
    read_topic,
    start_component,
    write_config,
)
from local_kafka import start_broker  # noqa: E402

from veeva_marketo_sync.emulators.marketo.store import DB_FILE as MARKETO_DB  # noqa: E402
from veeva_marketo_sync.emulators.veeva.seed import seed  # noqa: E402
from veeva_marketo_sync.emulators.veeva.store import DB_NAME  # noqa: E402

COMPONENTS = ("marketo-writer", "processor", "veeva-producer")
# Veeva object -> Marketo target (the emulator's "records written" counter key).
TARGETS = {
    "Account": "lead",
    "Call2_vod__c": "veevaCall_c",
    "Call2_Key_Message_vod__c": "veevaCallKeyMessage_c",
    "Medical_Inquiry_vod__c": "veevaMedicalInquiry_c",
}
VEEVA_OBJECTS = ("Account", "User", "Call2_vod__c", "Call2_Key_Message_vod__c")
CUSTOM_OBJECTS = ("Medical_Inquiry_vod__c",)
MARKETO_TOPICS = (
    "leads",
    "co.veevaCall_c",
    "co.veevaCallKeyMessage_c",
    "co.veevaMedicalInquiry_c",
)
SNAPSHOT_DONE = re.compile(r"(\S+): snapshot complete, (\d+) records")
UNLIMITED = {"rate_calls": 1_000_000_000, "max_concurrency": 100_000, "daily_quota": 1_000_000_000}
REAL = {
    "rate_calls": 100,
    "rate_window_seconds": 20.0,
    "max_concurrency": 10,
    "daily_quota": 50_000,
}
POLL = 1.0


# --- peak RSS of a process tree, from /proc -------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _hwm_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class RssSampler:
    """Samples VmHWM of each component's process and its descendants until stopped."""

    def __init__(self) -> None:
        self.processes: dict[str, Process] = {}
        self.peak_kib: dict[str, int] = {}
        self._hwm: dict[str, dict[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def add(self, name: str, process: Process) -> None:
        self.processes[name] = process
        self._hwm.setdefault(name, {})

    def start(self) -> None:
        self._thread.start()

    def sample(self) -> None:
        for name, process in list(self.processes.items()):
            tree = [process.popen.pid, *_children(process.popen.pid)]
            for pid in tree:
                hwm = _hwm_kib(pid)
                if hwm:
                    self._hwm[name][pid] = max(self._hwm[name].get(pid, 0), hwm)
            # Peak of the tree: the high-water marks of its processes added up (an upper bound
            # when children do not peak together; the components start no children today).
            self.peak_kib[name] = sum(self._hwm[name].values())

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()


def distinct_in_marketo(db: Path) -> dict[str, int]:
    """Read the Marketo emulator's database (read-only): the counters count rewrites too."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        leads = conn.execute(
            "SELECT COUNT(DISTINCT value) FROM lead_index WHERE field = 'veevaAccountId'"
        ).fetchone()[0]
        found = {"lead": int(leads)}
        for name, count in conn.execute("SELECT type, COUNT(*) FROM co_records GROUP BY type"):
            found[name] = int(count)
    return found


# --- one run --------------------------------------------------------------------------------


@dataclass
class RunResult:
    label: str
    limits: str
    expected: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    finished: bool = False
    marketo_calls: dict[str, int] = field(default_factory=dict)
    marketo_rejected: dict[str, int] = field(default_factory=dict)
    veeva_calls: dict[str, int] = field(default_factory=dict)
    veeva_calls_at_snapshot: int = 0
    marketo_deleted: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, int] = field(default_factory=dict)
    rss_kib: dict[str, int] = field(default_factory=dict)
    professional_in_veeva: int = 0
    seeded: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        """Distinct records in Marketo that the snapshot had to deliver (no rewrites)."""
        found = self.distinct or self.written
        return sum(min(found.get(t, 0), n) for t, n in self.expected.items())

    @property
    def total_expected(self) -> int:
        return sum(self.expected.values())

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    def per_thousand(self, calls: int) -> float:
        return calls * 1000 / self.delivered if self.delivered else float("nan")


class Run:
    """Seeds, starts and watches one end-to-end snapshot."""

    def __init__(self, label: str, limits_on: bool, args: argparse.Namespace, bootstrap: str):
        self.args = args
        self.limits_on = limits_on
        self.bootstrap = bootstrap
        self.root = Path(args.workdir) / label
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.result = RunResult(label, "on (real values)" if limits_on else "off")
        self.emulators = Emulators(self.root)
        self.sampler = RssSampler()
        self.processes: dict[str, Process] = {}
        self.prefix = ""
        self.began = 0.0

    def execute(self) -> RunResult:
        options = {
            "calls_per_account": self.args.calls_per_account,
            "inquiries_per_account": self.args.inquiries_per_account,
        }
        report = seed(
            self.emulators.veeva_state,
            self.args.person_accounts,
            **{k: v for k, v in options.items() if v is not None},
        )
        self.result.seeded = dict(report.counts)
        self.emulators.start()
        try:
            config = self._prepare()
            self._start_pipeline(config)
            self._watch()
            self._collect()
        finally:
            for name in ("veeva-producer", "processor", "marketo-writer"):
                if name in self.processes:
                    self.processes[name].stop()
            if self.processes:
                self.sampler.stop()
            self.emulators.stop()
        return self.result

    def _prepare(self) -> Path:
        with self.emulators.marketo() as marketo:
            marketo.post("/__admin/limits", json=REAL if self.limits_on else UNLIMITED)
        self.result.professional_in_veeva = self._professional_in_veeva()
        # One change cycle after the snapshot, then idle: Veeva calls measure the snapshot.
        extra: dict[str, Any] = {"sync": {"poll_interval_seconds": 3600}}
        if not self.limits_on and not self.args.keep_client_budget:
            extra["marketo"] = {"window_seconds": 0.001, "daily_quota": 1_000_000_000}
        config = write_config(
            self.root / "vmsync.yaml", self.emulators, self.bootstrap, extra=extra
        )
        self.prefix = yaml.safe_load(config.read_text())["kafka"]["topic_prefix"]
        create_topics(config)
        with self.emulators.marketo() as marketo:
            marketo.post("/__admin/counters/reset").raise_for_status()
        with self.emulators.veeva() as veeva:
            veeva.delete("/__admin/counters").raise_for_status()
        return config

    def _start_pipeline(self, config: Path) -> None:
        for name in COMPONENTS:
            if name == "veeva-producer":
                self.sampler.start()
                self.began = time.monotonic()
            self.processes[name] = start_component(name, config, self.root)
            self.sampler.add(name, self.processes[name])

    def _elapsed(self) -> float:
        return time.monotonic() - self.began

    def _poll(self, condition: Callable[[], bool]) -> bool:
        """Check ``condition`` every POLL seconds until it holds or the run's time is up."""
        while self._elapsed() < self.args.run_timeout:
            self._check_alive()
            if condition():
                return True
            time.sleep(POLL)  # the polling interval of a condition, as in devstack.wait_until
        return False

    def _watch(self) -> None:
        result = self.result
        objects = len(VEEVA_OBJECTS) + len(CUSTOM_OBJECTS)
        if not self._poll(lambda: len(self._snapshots_done()) == objects):
            result.notes.append("the snapshot was not published within the time box")
            return
        result.phases["snapshot published to Kafka"] = self._elapsed()
        result.veeva_calls_at_snapshot = sum(self._veeva_counters().values())
        published = self._snapshots_done()
        result.expected = {TARGETS[o]: n for o, n in published.items() if o in TARGETS}
        veeva_topics = [f"{self.prefix}.veeva.{o}" for o in (*VEEVA_OBJECTS, *CUSTOM_OBJECTS)]
        group = f"{self.prefix}.vmsync-processor"
        if not self._poll(lambda: group_caught_up(self.bootstrap, group, veeva_topics)):
            return
        result.phases["processor caught up"] = self._elapsed()
        marketo_topics = [f"{self.prefix}.marketo.{t}" for t in MARKETO_TOPICS]
        group = f"{self.prefix}.vmsync-marketo-writer"
        seen: list[tuple[Any, ...]] = []

        def done() -> bool:
            result.written = self._written()
            caught_up = group_caught_up(self.bootstrap, group, marketo_topics)
            if caught_up and all(result.written.get(t, 0) >= n for t, n in result.expected.items()):
                # The counters include rewrites: count the distinct records before saying so.
                distinct = self._distinct()
                if all(distinct.get(t, 0) >= n for t, n in result.expected.items()):
                    result.finished = True
                    return True
            # Idle with records missing: caught up twice in a row with nothing new written.
            seen.append((caught_up, sorted(result.written.items())))
            return len(seen) >= 2 and seen[-1] == seen[-2] and caught_up

        if self._poll(done):
            result.phases["writer caught up"] = self._elapsed()

    def _collect(self) -> None:
        result = self.result
        result.seconds = self._elapsed()
        result.written = self._written()
        result.distinct = self._distinct()
        self.sampler.sample()
        result.rss_kib = dict(self.sampler.peak_kib)
        with self.emulators.marketo() as marketo:
            counters = marketo.get("/__admin/counters").json()
        result.marketo_calls = dict(counters.get("calls", {}))
        result.marketo_rejected = dict(counters.get("rejected", {}))
        result.marketo_deleted = dict(counters.get("deleted", {}))
        result.veeva_calls = self._veeva_counters()
        reasons: Counter[str] = Counter()
        for record in read_topic(self.bootstrap, f"{self.prefix}.vmsync.dlq"):
            headers = {name: raw.decode("utf-8", "replace") for name, raw in record.headers}
            topic = headers.get("__connect.errors.topic", "?").removeprefix(self.prefix + ".")
            reason = headers.get("__connect.errors.exception.message", "?")
            reasons[f"{topic}: {reason[:80]}"] += 1
        result.dead_letters = dict(reasons)

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            code = process.popen.poll()
            if code is not None:
                msg = f"{name} exited with {code}:\n{process.tail()}"
                raise RuntimeError(msg)

    def _snapshots_done(self) -> dict[str, int]:
        log = self.processes["veeva-producer"].log
        text = log.read_text(errors="replace") if log.exists() else ""
        return {m.group(1): int(m.group(2)) for m in SNAPSHOT_DONE.finditer(text)}

    def _written(self) -> dict[str, int]:
        with self.emulators.marketo() as marketo:
            return dict(marketo.get("/__admin/counters").json().get("records", {}))

    def _distinct(self) -> dict[str, int]:
        """Distinct leads (by Veeva Id) and custom-object records in the Marketo emulator."""
        return distinct_in_marketo(self.root / "marketo" / MARKETO_DB)

    def _veeva_counters(self) -> dict[str, int]:
        with self.emulators.veeva() as veeva:
            return dict(veeva.get("/__admin/counters").json().get("calls", {}))

    def _professional_in_veeva(self) -> int:
        with self.emulators.veeva() as veeva:
            professional = veeva.get("/__admin/info").json()["record_types"]["Professional_vod"]
        db = self.emulators.veeva_state / DB_NAME
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                'SELECT COUNT(*) FROM "Account" WHERE IsPersonAccount = 1 '
                "AND RecordTypeId = ? AND IsDeleted = 0",
                (professional,),
            ).fetchone()
        return int(row[0])


# --- printing -------------------------------------------------------------------------------


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def print_run(result: RunResult, args: argparse.Namespace) -> None:
    print(f"\n== run ({result.label}): Marketo limits {result.limits} ==")
    seeded = ", ".join(f"{k} {v:,}" for k, v in result.seeded.items() if v)
    print(f"seeded: {seeded}")
    leads = result.expected.get("lead", 0)
    check = "every one" if leads == result.professional_in_veeva else "MISMATCH"
    print(
        f"snapshot published {leads:,} lead records for {result.professional_in_veeva:,} "
        f"Professional person accounts in Veeva ({check})"
    )
    for target, expected in result.expected.items():
        written = result.written.get(target, 0)
        distinct = result.distinct.get(target, written)
        extra = f" ({written:,} writes counted)" if written != distinct else ""
        print(f"  {target:24} {distinct:>9,} / {expected:,} in Marketo{extra}")
    missing = result.total_expected - result.delivered
    if result.finished:
        state = "finished: every record written"
    elif "writer caught up" in result.phases:
        state = f"STALLED: pipeline idle with {missing:,} records missing in Marketo"
    else:
        state = f"NOT finished within {args.run_timeout:.0f} s"
    print(
        f"end to end: {result.delivered:,} records in {result.seconds:,.1f} s "
        f"= {result.rate:,.0f} records/s ({state})"
    )
    if "writer caught up" not in result.phases and result.delivered and result.total_expected:
        projected = result.seconds * result.total_expected / result.delivered
        print(
            f"  at this rate all {result.total_expected:,} records would take about "
            f"{projected:,.0f} s ({projected / 60:,.1f} min)"
        )
    _print_costs(result)


def _print_costs(result: RunResult) -> None:
    for phase, at in result.phases.items():
        print(f"  {phase:30} at {at:8,.1f} s")
    api = {k: v for k, v in result.marketo_calls.items() if "identity" not in k}
    marketo_total = sum(result.marketo_calls.values())
    print(
        f"Marketo calls: {marketo_total:,} ({result.per_thousand(marketo_total):.2f} per 1,000 "
        f"records; {sum(api.values()):,} API calls without identity)"
    )
    for key, value in sorted(result.marketo_calls.items(), key=lambda kv: -kv[1])[:6]:
        print(f"    {value:>7,}  {key}")
    if result.marketo_rejected:
        print(f"  calls refused by Marketo (code: count): {result.marketo_rejected}")
    if result.marketo_deleted:
        print(f"  records deleted in Marketo: {result.marketo_deleted}")
    if result.dead_letters:
        print(f"dead letters: {sum(result.dead_letters.values()):,}")
        for reason, count in sorted(result.dead_letters.items(), key=lambda kv: -kv[1]):
            print(f"    {count:>7,}  {reason}")
    veeva_total = sum(result.veeva_calls.values())
    print(
        f"Veeva calls: {veeva_total:,} ({result.per_thousand(veeva_total):.2f} per 1,000 "
        f"records; {result.veeva_calls_at_snapshot:,} by the end of the snapshot)"
    )
    for key, value in sorted(result.veeva_calls.items(), key=lambda kv: -kv[1])[:6]:
        print(f"    {value:>7,}  {key}")
    print("peak RSS: " + ", ".join(f"{n} {_mib(k)}" for n, k in result.rss_kib.items()))
    for note in result.notes:
        print(f"note: {note}")


def print_ratio(a: RunResult, b: RunResult) -> None:
    print("\n== (a) limits off vs (b) limits on ==")
    if a.rate and b.rate:
        print(f"records/s: {a.rate:,.0f} vs {b.rate:,.0f} -> (a)/(b) = {a.rate / b.rate:.2f}x")
    print(f"duration:  {a.seconds:,.1f} s vs {b.seconds:,.1f} s")
    ma, mb = sum(a.marketo_calls.values()), sum(b.marketo_calls.values())
    print(f"Marketo calls per 1,000 records: {a.per_thousand(ma):.2f} vs {b.per_thousand(mb):.2f}")
    for name in COMPONENTS:
        ra, rb = a.rss_kib.get(name, 0), b.rss_kib.get(name, 0)
        print(f"peak RSS {name:15} {_mib(ra)} vs {_mib(rb)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--person-accounts", type=int, default=100_000)
    parser.add_argument("--calls-per-account", type=float, default=None, help="seed default 0.5")
    parser.add_argument(
        "--inquiries-per-account", type=float, default=None, help="seed default 0.05"
    )
    parser.add_argument("--runs", default="a,b", help="a (limits off), b (limits on), or both")
    parser.add_argument("--run-timeout", type=float, default=450.0, help="seconds per run")
    parser.add_argument(
        "--keep-client-budget",
        action="store_true",
        help="in (a), keep the product's default Marketo budget (100 calls / 20 s)",
    )
    parser.add_argument("--bootstrap", help="use this Kafka broker instead of starting one")
    parser.add_argument("--workdir", help="keep state and logs here (default: a temp dir)")
    args = parser.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]

    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            args.workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-snap-"))
        bootstrap = args.bootstrap
        if bootstrap is None:
            broker = start_broker(Path(args.workdir) / "kafka")
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap
        print(
            f"snapshot benchmark: {args.person_accounts:,} person accounts, Kafka {bootstrap}, "
            f"3 partitions per topic, workdir {args.workdir}"
        )
        if "a" in runs and not args.keep_client_budget:
            print(
                "(a) lifts the product's own Marketo budget too (marketo.window_seconds=0.001); "
                "concurrency stays at the product's maximum of 10"
            )
        results: dict[str, RunResult] = {}
        for label in runs:
            result = Run(label, label == "b", args, bootstrap).execute()
            results[label] = result
            print_run(result, args)
            sys.stdout.flush()
        if "a" in results and "b" in results:
            print_ratio(results["a"], results["b"])


if __name__ == "__main__":
    main()
