"""Crashes and faults end converged: real Kafka, both emulators over HTTP, components as processes.

Issue 4's acceptance: a producer killed mid-snapshot resumes from its checkpoint, a writer
killed mid-batch leaves no duplicate lead, transient faults on both sides are ridden out, and a
record Marketo refuses lands in the DLQ with its reason while the rest goes on.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from devstack import (
    VMSYNC,
    Emulators,
    Process,
    create_topics,
    group_caught_up,
    marketo_leads,
    professional_accounts,
    read_topic,
    running_emulators,
    start_component,
    wait_until,
    write_config,
)

from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.store import SchemaStore

pytestmark = pytest.mark.integration

PIPELINE = ("marketo-writer", "processor", "veeva-producer")
CUSTOM_OBJECT_SOURCES = {
    "co.veevaCall_c": "Call2_vod__c",
    "co.veevaCallKeyMessage_c": "Call2_Key_Message_vod__c",
    "co.veevaMedicalInquiry_c": "Medical_Inquiry_vod__c",
}
BAD_EMAIL = "jörg.müller@klinik.example"
PAGE = 200  # veeva.query_batch_size in these tests: many pages from a few thousand accounts


class Stack:
    """A pipeline whose components can be killed and restarted, and ways to look at it."""

    def __init__(self, root: Path, emulators: Emulators, config: Path) -> None:
        self.root = root
        self.emulators = emulators
        self.config = config
        settings = yaml.safe_load(config.read_text())
        self.bootstrap: str = settings["kafka"]["bootstrap_servers"]
        self.prefix: str = settings["kafka"]["topic_prefix"]
        self.objects: list[str] = [
            *settings["sync"]["objects"],
            *settings["sync"].get("custom_objects", []),
        ]
        self.codec = AvroCodec(SchemaStore(Path(settings["kafka"]["schema_store_dir"])))
        self.processes: dict[str, Process] = {}
        self._retired: list[Process] = []

    def start(self, *names: str) -> None:
        for name in names:
            if name in self.processes:
                self._retired.append(self.processes[name])
            self.processes[name] = start_component(name, self.config, self.root)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed or committed."""
        process = self.processes[name]
        assert process.popen.poll() is None, f"{name} died before the kill:\n{process.tail()}"
        process.kill()

    def stop(self) -> None:
        for process in [*self.processes.values(), *self._retired]:
            process.stop()

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def marketo_topics(self) -> list[str]:
        return [self.topic(f"marketo.{t}") for t in ("leads", *CUSTOM_OBJECT_SOURCES)]

    def quiet(self) -> bool:
        """Everything published so far has been processed and written."""
        veeva_topics = [self.topic(f"veeva.{o}") for o in self.objects]
        return group_caught_up(
            self.bootstrap, f"{self.prefix}.vmsync-processor", veeva_topics
        ) and group_caught_up(
            self.bootstrap, f"{self.prefix}.vmsync-marketo-writer", self.marketo_topics()
        )

    def checkpoint(self, object_name: str) -> dict[str, Any] | None:
        """The producer's latest checkpoint of ``object_name``, decoded."""
        key = f"veeva-producer/{object_name}".encode()
        latest = None
        for record in read_topic(self.bootstrap, self.topic("vmsync.checkpoints")):
            if record.key == key and record.value is not None:
                latest = self.codec.decode(record.value)
        return latest

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.tail()}" for n, p in self.processes.items())

    def wait(self, condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
        """``wait_until`` that shows the components' logs when it times out."""
        try:
            return wait_until(condition, timeout=timeout, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def lead_rows(self) -> list[dict[str, Any]]:
        """Every lead row in Marketo, duplicates included."""
        with self.emulators.marketo() as marketo:
            return marketo.get("/__admin/leads", params={"limit": 10_000_000}).json()

    def veeva_queries(self) -> int:
        """Query calls (first pages and queryMore, query and queryAll) the Veeva org served."""
        with self.emulators.veeva() as veeva:
            calls = veeva.get("/__admin/counters").json()["calls"]
        return sum(n for endpoint, n in calls.items() if endpoint.startswith("GET query"))

    def converged(self, expected: dict[str, dict[str, Any]]) -> bool:
        return set(marketo_leads(self.emulators)) >= set(expected) and self.quiet()


@pytest.fixture
def stack(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Callable[..., Stack]]:
    """Make a stack: ``stack(person_accounts, veeva={...}, marketo={...}, sync={...})``."""
    with ExitStack() as cleanup:

        def make(person_accounts: int, **extra: dict[str, Any]) -> Stack:
            emulators = cleanup.enter_context(running_emulators(tmp_path, person_accounts))
            config = write_config(tmp_path / "vmsync.yaml", emulators, kafka_bootstrap, extra=extra)
            create_topics(config)
            made = Stack(tmp_path, emulators, config)
            cleanup.callback(made.stop)
            return made

        yield make


def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The offsets consumer group ``group`` has committed, per partition."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {(tp.topic, tp.partition): getattr(meta, "offset", meta) for tp, meta in offsets.items()}


def assert_leads_match(stack: Stack, expected: dict[str, dict[str, Any]]) -> None:
    """Every expected person is exactly one lead, with the values Veeva holds now."""
    rows = stack.lead_rows()
    per_account = Counter(row.get("veevaAccountId") for row in rows if row.get("veevaAccountId"))
    duplicated = {account: n for account, n in per_account.items() if n > 1}
    assert not duplicated, f"{len(duplicated)} persons have several leads: {duplicated}"
    missing = set(expected) - set(per_account)
    assert not missing, f"{len(missing)} persons are no lead: {sorted(missing)[:10]}"
    leads = {row["veevaAccountId"]: row for row in rows if row.get("veevaAccountId")}
    for account_id, account in expected.items():
        lead = leads[account_id]
        assert lead["email"] == ((account["PersonEmail"] or "").strip().lower() or None), lead
        assert lead["firstName"] == account["FirstName"], lead
        assert lead["lastName"] == account["LastName"], lead
        assert lead["veevaNPI"] == account["NPI_vod__c"], lead


def test_producer_killed_mid_snapshot_resumes_from_its_checkpoint(
    stack: Callable[..., Stack],
) -> None:
    sync = stack(
        5000,
        veeva={"query_batch_size": PAGE, "bulk_threshold": 10_000_000},
        # Account and User only, one cycle per object: the Veeva query counter then counts
        # the Account snapshot plus a handful of fixed queries.
        sync={"objects": ["Account", "User"], "custom_objects": [], "poll_interval_seconds": 300},
    )
    expected = professional_accounts(sync.emulators)
    total = len(expected)
    full_pages = math.ceil(total / PAGE)
    assert full_pages >= 20, f"only {total} Professional accounts: too few pages"
    with sync.emulators.veeva() as veeva:
        # Slow pages, so the kill lands mid-snapshot.
        veeva.post("/__admin/latency", json={"path": "/query", "ms": 400}).raise_for_status()
    sync.start(*PIPELINE)

    def partly_done() -> int:
        checkpoint = sync.checkpoint("Account")
        done = checkpoint["records_done"] if checkpoint else 0
        return done if total / 2 <= done else 0

    sync.wait(partly_done, timeout=90, what="half the Account snapshot checkpointed")
    sync.kill("veeva-producer")
    at_kill = sync.checkpoint("Account")
    assert at_kill is not None
    assert at_kill["phase"] == "snapshot", f"the snapshot finished before the kill: {at_kill}"
    done = at_kill["records_done"]
    assert done < total, at_kill
    queries_before = sync.veeva_queries()

    with sync.emulators.veeva() as veeva:
        veeva.delete("/__admin/faults").raise_for_status()  # latency off
        veeva.delete("/__admin/counters").raise_for_status()
    sync.start("veeva-producer")
    sync.wait(lambda: sync.converged(expected), timeout=150, what="every person account in Marketo")
    sync.wait(
        lambda: (sync.checkpoint("User") or {}).get("phase") == "changes",
        timeout=30,
        what="the restarted producer's first cycle to end",
    )
    queries_after = sync.veeva_queries()

    # It went on from its checkpoint: the remaining pages, plus the fixed queries of a cycle
    # (count and changes of Account and User, User's one page, a chunk-ending query per chunk).
    # Starting over would have cost at least every page of the snapshot again.
    remaining_pages = math.ceil((total - done) / PAGE)
    fixed = 5 + math.ceil(remaining_pages / 10)
    report = (
        f"{total} accounts = {full_pages} pages; killed after {done} records "
        f"({queries_before} queries); {queries_after} queries after the restart for "
        f"{remaining_pages} remaining pages"
    )
    assert queries_after <= remaining_pages + fixed, report
    assert queries_after < full_pages, report

    # At most the page in flight at the kill was published twice.
    snapshot_events = Counter()
    for record in read_topic(sync.bootstrap, sync.topic("veeva.Account")):
        if record.value is not None:
            event = sync.codec.decode(record.value)
            if event["op"] == "snapshot":
                snapshot_events[event["id"]] += 1
    assert set(snapshot_events) == set(expected), "the snapshot on Kafka is not complete"
    assert sum(snapshot_events.values()) <= total + PAGE, report
    assert_leads_match(sync, expected)


def test_writer_killed_mid_batch_leaves_no_duplicate_lead(stack: Callable[..., Stack]) -> None:
    sync = stack(700)
    expected = professional_accounts(sync.emulators)
    assert len(expected) > 300, "one batch would hold every lead"
    sync.start("processor", "veeva-producer")
    leads_topic = sync.topic("marketo.leads")

    def commands_ready() -> bool:
        keys = {r.key.decode() for r in read_topic(sync.bootstrap, leads_topic)}
        return keys >= set(expected) and group_caught_up(
            sync.bootstrap,
            f"{sync.prefix}.vmsync-processor",
            [sync.topic("veeva.Account"), sync.topic("veeva.User")],
        )

    sync.wait(commands_ready, timeout=120, what="every upsert command on marketo.leads")
    with sync.emulators.marketo() as marketo:
        # The first lead call only uses up a harmless 10 ms fault and goes through; the second
        # hangs, and the writer is killed while it waits: the first batch is in Marketo, its
        # round is not committed.
        for hang in (0.01, 15):
            marketo.post(
                "/__admin/faults",
                json={
                    "path_pattern": r"^/rest/v1/leads\.json$",
                    "method": "POST",
                    "count": 1,
                    "hang_seconds": hang,
                },
            ).raise_for_status()
    sync.start("marketo-writer")

    def second_call_hanging() -> bool:
        with sync.emulators.marketo() as marketo:
            pending = marketo.get("/__admin/faults").json()
            in_flight = marketo.get("/__admin/health").json()["in_flight"]
        return not pending and in_flight >= 1 and bool(marketo_leads(sync.emulators))

    sync.wait(second_call_hanging, timeout=60, what="the writer's second lead call in flight")
    sync.kill("marketo-writer")
    written = set(marketo_leads(sync.emulators))
    assert 0 < len(written) < len(expected), len(written)
    done = committed_offsets(sync.bootstrap, f"{sync.prefix}.vmsync-marketo-writer")
    written_not_committed = {
        record.key.decode()
        for record in read_topic(sync.bootstrap, leads_topic)
        if record.offset >= done.get((record.topic, record.partition), 0)
        and record.key.decode() in written
    }
    # The case that could duplicate: in Marketo already, but the commands are not committed,
    # so the restarted writer sends them again.
    assert written_not_committed, "the kill left no written lead uncommitted"

    sync.start("marketo-writer")
    sync.wait(lambda: sync.converged(expected), timeout=120, what="every person account in Marketo")
    assert_leads_match(sync, expected)


def test_faults_on_both_sides_still_converge(stack: Callable[..., Stack]) -> None:
    sync = stack(
        800,
        veeva={"query_batch_size": PAGE},
        marketo={"timeout_seconds": 2},
    )
    expected = professional_accounts(sync.emulators)
    writes = r"^/rest/v1/(leads|customobjects/[A-Za-z_]+)\.json$"
    with sync.emulators.marketo() as marketo:
        for fault in (
            {"code": "606"},  # rate limit
            {"code": "602"},  # access token expired
            {"http_status": 500},
            {"hang_seconds": 6},  # longer than marketo.timeout_seconds
            {"http_status": 502, "code": "611"},
        ):
            marketo.post(
                "/__admin/faults",
                json={"path_pattern": writes, "method": "POST", "count": 1, **fault},
            ).raise_for_status()
    with sync.emulators.veeva() as veeva:
        veeva.post(
            "/__admin/faults",
            json={
                "path": "/query",
                "count": 1,
                "status": 401,
                "error_code": "INVALID_SESSION_ID",
                "message": "Session expired or invalid",
            },
        ).raise_for_status()
        veeva.post("/__admin/latency", json={"path": "/query", "ms": 200}).raise_for_status()
    sync.start(*PIPELINE)

    # Mid-snapshot, every Veeva session expires.
    sync.wait(
        lambda: (sync.checkpoint("Account") or {}).get("records_done", 0) >= PAGE,
        timeout=60,
        what="the Account snapshot under way",
    )
    with sync.emulators.veeva() as veeva:
        assert veeva.post("/__admin/sessions/expire").json()["expired"] >= 1
        veeva.delete("/__admin/faults").raise_for_status()  # latency off

    # Once leads arrive, Marketo expires the writer's token and an edit must get through.
    sync.wait(lambda: marketo_leads(sync.emulators), timeout=120, what="the first leads in Marketo")
    with sync.emulators.marketo() as marketo:
        assert marketo.post("/__admin/tokens/expire").json()["expired"] >= 1
    sync.wait(lambda: sync.converged(expected), timeout=150, what="every person in Marketo")
    account_id = sorted(expected)[5]
    with sync.emulators.veeva() as veeva:
        veeva.patch(
            f"/__admin/records/Account/{account_id}", json={"FirstName": "Resilient"}
        ).raise_for_status()
    sync.wait(
        lambda: marketo_leads(sync.emulators)[account_id]["firstName"] == "Resilient",
        timeout=60,
        what="the edit after the token expired",
    )
    sync.wait(sync.quiet, timeout=60, what="the pipeline to be quiet")

    with sync.emulators.marketo() as marketo:
        assert marketo.get("/__admin/faults").json() == [], "not every Marketo fault was met"
        rejected = marketo.get("/__admin/counters").json().get("rejected", {})
    assert {"606", "602", "611"} <= set(rejected), rejected
    with sync.emulators.veeva() as veeva:
        counters = veeva.get("/__admin/counters").json()["calls"]
        assert veeva.get("/__admin/faults").json()["faults"] == [], "the Veeva fault was not met"
    logins = sum(
        n for endpoint, n in counters.items() if "login" in endpoint or "token" in endpoint
    )
    assert logins >= 3, f"no new Veeva session after INVALID_SESSION_ID: {counters}"
    assert_leads_match(sync, professional_accounts(sync.emulators))


def test_rejected_record_lands_in_the_dlq_with_its_reason(stack: Callable[..., Stack]) -> None:
    sync = stack(150)
    expected = professional_accounts(sync.emulators)
    bad_id, other_id = sorted(expected)[:2]
    with sync.emulators.veeva() as veeva:
        # Veeva takes any address of the form x@y.z; Marketo's email fields take ASCII only.
        veeva.patch(
            f"/__admin/records/Account/{bad_id}", json={"PersonEmail": BAD_EMAIL}
        ).raise_for_status()
    sync.start(*PIPELINE)
    good = {k: v for k, v in expected.items() if k != bad_id}
    sync.wait(lambda: sync.converged(good), timeout=120, what="every other person in Marketo")
    assert bad_id not in marketo_leads(sync.emulators)

    def dead_letters() -> str:
        listed = subprocess.run(
            [VMSYNC, "dlq", "list", "--config", str(sync.config)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "1000"},
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        return listed.stdout

    listing = sync.wait(
        lambda: (text := dead_letters()) and bad_id in text and text,
        timeout=30,
        what=f"{bad_id} in `vmsync dlq list`",
    )
    rows = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in listing.splitlines()
        if line.startswith("│")
    ]
    assert f"{len(rows)} dead letter(s)" in listing, listing
    columns = ("dlq", "failed_at", "original", "key", "stage", "error", "reason")
    letters = [dict(zip(columns, row, strict=True)) for row in rows]
    person = [letter for letter in letters if letter["key"] == bad_id]
    assert person, listing
    for letter in person:
        assert letter["original"].startswith(f"{sync.topic('marketo.leads')}/"), listing
        assert letter["stage"] == "write", listing
        assert letter["reason"].startswith("1003"), listing
        assert BAD_EMAIL in letter["reason"], listing
    # Nothing else was refused, but what hangs on the refused person: its calls find no lead.
    with sync.emulators.veeva() as veeva:
        for letter in letters:
            if letter["key"] != bad_id:
                target = letter["original"].split("/")[0].removeprefix(sync.topic("marketo."))
                sobject = CUSTOM_OBJECT_SOURCES[target]
                record = veeva.get(f"/__admin/records/{sobject}/{letter['key']}").json()
                assert record["Account_vod__c"] == bad_id, letter
                assert letter["reason"].startswith("1004"), letter

    # The partition did not stall: a later edit of another person still arrives.
    with sync.emulators.veeva() as veeva:
        veeva.patch(
            f"/__admin/records/Account/{other_id}", json={"LastName": "Afterwards"}
        ).raise_for_status()
    sync.wait(
        lambda: marketo_leads(sync.emulators)[other_id]["lastName"] == "Afterwards",
        timeout=60,
        what="a later edit in Marketo",
    )
    assert_leads_match(
        sync, {k: v for k, v in professional_accounts(sync.emulators).items() if k != bad_id}
    )
