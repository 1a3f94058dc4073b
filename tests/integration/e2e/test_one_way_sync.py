"""Veeva -> Marketo, end to end: real Kafka, both emulators over HTTP, every component a process."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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

pytestmark = pytest.mark.integration

PIPELINE = ("marketo-writer", "processor", "veeva-producer")


class Sync:
    """A running pipeline and what a test needs to look at it."""

    def __init__(self, root: Path, emulators: Emulators, config: Path) -> None:
        self.root = root
        self.emulators = emulators
        self.config = config
        settings = yaml.safe_load(config.read_text())
        self.bootstrap = settings["kafka"]["bootstrap_servers"]
        self.prefix = settings["kafka"]["topic_prefix"]
        self.processes: dict[str, Process] = {}

    def start(self, *names: str) -> None:
        for name in names:
            self.processes[name] = start_component(name, self.config, self.root)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def quiet(self) -> bool:
        """Everything published so far has been processed and written."""
        veeva_topics = [
            self.topic(f"veeva.{o}")
            for o in ("Account", "User", "Call2_vod__c", "Call2_Key_Message_vod__c")
        ]
        marketo_topics = [
            self.topic(f"marketo.{t}")
            for t in (
                "leads",
                "co.veevaCall_c",
                "co.veevaCallKeyMessage_c",
                "co.veevaMedicalInquiry_c",
            )
        ]
        return group_caught_up(
            self.bootstrap, f"{self.prefix}.vmsync-processor", veeva_topics
        ) and group_caught_up(
            self.bootstrap, f"{self.prefix}.vmsync-marketo-writer", marketo_topics
        )

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.tail()}" for n, p in self.processes.items())

    def wait(self, condition: Any, *, timeout: float, what: str) -> Any:
        """``wait_until`` that shows the components' logs when it times out."""
        try:
            return wait_until(condition, timeout=timeout, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None


@pytest.fixture
def sync(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Sync]:
    with running_emulators(tmp_path, 120) as emulators:
        config = write_config(tmp_path / "vmsync.yaml", emulators, kafka_bootstrap)
        create_topics(config)
        pipeline = Sync(tmp_path, emulators, config)
        try:
            yield pipeline
        finally:
            pipeline.stop()


def lead_of(sync: Sync, account_id: str) -> dict[str, Any] | None:
    return marketo_leads(sync.emulators).get(account_id)


def test_snapshot_converges_and_changes_follow(sync: Sync) -> None:
    sync.start(*PIPELINE)
    expected = professional_accounts(sync.emulators)
    assert len(expected) > 50

    def converged() -> bool:
        return set(marketo_leads(sync.emulators)) >= set(expected) and sync.quiet()

    sync.wait(converged, timeout=180, what="every person account in Marketo")
    leads = marketo_leads(sync.emulators)

    # Only Professional person accounts become leads: no business account, Lead or Contact.
    assert set(leads) == set(expected)
    with sync.emulators.veeva() as veeva:
        users = {u["Id"]: u for u in veeva.get("/__admin/records/User").json()["records"]}
        calls = veeva.get("/__admin/records/Call2_vod__c", params={"limit": 100_000}).json()
    for account_id, account in expected.items():
        lead = leads[account_id]
        assert lead["email"] == (account["PersonEmail"] or "").strip().lower() or None
        assert lead["firstName"] == account["FirstName"]
        assert lead["lastName"] == account["LastName"]
        assert lead["veevaNPI"] == account["NPI_vod__c"]
        assert lead["veevaOwnerId"] == account["OwnerId"]
        assert lead["veevaOwnerName"] == users[account["OwnerId"]]["Name"], account_id

    # Calls of the last 6 months, key messages and medical inquiries are custom objects
    # linked to their person.
    window = datetime.now(UTC) - timedelta(days=183)
    expected_calls = {
        c["Id"]
        for c in calls["records"]
        if c["Account_vod__c"] in expected
        and not c["IsDeleted"]
        and datetime.fromisoformat(c["CreatedDate"].replace("+0000", "+00:00")) >= window
    }
    with sync.emulators.marketo() as marketo:
        synced = marketo.get("/__admin/custom-objects/veevaCall_c/records").json()
        assert {r["veevaCallId"] for r in synced} == expected_calls
        for record in synced:
            assert leads[record["veevaAccountId"]]
        for name in ("veevaCallKeyMessage_c", "veevaMedicalInquiry_c"):
            records = marketo.get(f"/__admin/custom-objects/{name}/records").json()
            assert records, f"no {name} records"
            assert {r["veevaAccountId"] for r in records} <= set(expected), name

    # Changes: an edit, a new person and a delete arrive in the next cycle.
    account_id = sorted(expected)[0]
    with sync.emulators.veeva() as veeva:
        veeva.patch(
            f"/__admin/records/Account/{account_id}",
            json={"PersonEmail": "New.Mail@Example.ORG"},
        ).raise_for_status()
        professional = veeva.get("/__admin/info").json()["record_types"]["Professional_vod"]
        created = veeva.post(
            "/__admin/records/Account",
            json={
                "RecordTypeId": professional,
                "IsPersonAccount": True,
                "FirstName": "Nova",
                "LastName": "Created",
                "PersonEmail": "nova@example.org",
            },
        ).json()["id"]
        deleted = sorted(expected)[1]
        veeva.delete(f"/__admin/records/Account/{deleted}").raise_for_status()

    def changes_arrived() -> bool:
        leads = marketo_leads(sync.emulators)
        return (
            leads[account_id].get("email") == "new.mail@example.org"
            and created in leads
            and leads[deleted].get("veevaIsDeleted") is True
        )

    sync.wait(changes_arrived, timeout=120, what="the changes in Marketo")


def test_an_unmapped_field_edit_costs_no_marketo_call(sync: Sync) -> None:
    sync.start(*PIPELINE)
    expected = professional_accounts(sync.emulators)
    sync.wait(
        lambda: set(marketo_leads(sync.emulators)) >= set(expected) and sync.quiet(),
        timeout=180,
        what="the snapshot to be written",
    )
    account_id = sorted(expected)[2]
    with sync.emulators.marketo() as marketo:
        marketo.post("/__admin/counters/reset").raise_for_status()
    with sync.emulators.veeva() as veeva:
        # Primary_Parent_vod__c is not mapped: the record changes, its mapped values do not.
        parent = sorted(expected)[3]
        veeva.patch(
            f"/__admin/records/Account/{account_id}", json={"Primary_Parent_vod__c": parent}
        ).raise_for_status()
        modstamp = veeva.get(f"/__admin/records/Account/{account_id}").json()["SystemModstamp"]

    def republished() -> bool:
        records = read_topic(sync.bootstrap, sync.topic("veeva.Account"))
        return sum(r.key == account_id.encode() for r in records) >= 2

    # The producer saw the edit (a new event for the record), and everything downstream is done.
    sync.wait(republished, timeout=60, what=f"the edit of {account_id} ({modstamp}) on Kafka")
    sync.wait(sync.quiet, timeout=60, what="the processor and writer to catch up")
    with sync.emulators.marketo() as marketo:
        counters = marketo.get("/__admin/counters").json()
    writes = {k: v for k, v in counters.get("calls", {}).items() if k.startswith("POST")}
    assert writes == {}, counters


def test_replay_writes_every_command_again_after_a_marketo_loss(sync: Sync) -> None:
    sync.start(*PIPELINE)
    expected = professional_accounts(sync.emulators)
    sync.wait(
        lambda: set(marketo_leads(sync.emulators)) >= set(expected) and sync.quiet(),
        timeout=180,
        what="the snapshot to be written",
    )
    sync.processes["marketo-writer"].stop()
    with sync.emulators.marketo() as marketo:
        marketo.post("/__admin/counters/reset").raise_for_status()

    result = subprocess.run(
        [VMSYNC, "replay", "marketo-writer", "--yes", "--config", str(sync.config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "will replay from the beginning" in result.stdout

    sync.start("marketo-writer")

    def rewritten() -> bool:
        with sync.emulators.marketo() as marketo:
            written = marketo.get("/__admin/counters").json().get("records", {})
        return written.get("lead", 0) >= len(expected)

    sync.wait(rewritten, timeout=120, what="the replayed commands in Marketo")
    status = subprocess.run(
        [VMSYNC, "status", "--config", str(sync.config)],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert status.returncode == 0, status.stderr
    assert "veeva-producer/Account" in status.stdout
    assert "dead letters: 0" in status.stdout


def test_run_all_once_stops_after_everything_is_written(sync: Sync) -> None:
    expected = professional_accounts(sync.emulators)
    result = subprocess.run(
        [VMSYNC, "run", "all", "--once", "--config", str(sync.config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # --once waits for the processor and the writers to catch up before it stops them.
    assert set(marketo_leads(sync.emulators)) == set(expected)
