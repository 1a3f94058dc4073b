"""Veeva <-> Marketo, end to end (issue 5): all five components as processes, real Kafka.

Contact fields of Professional Person Accounts sync both ways; account fields only go to
Marketo; conflicts follow the mapping's policies (newest_wins, ties to Veeva, sticky opt-outs);
the sync's own writes never come back as edits; untrusted form fills are held; every conflict
decision is recorded on ``vmsync.decisions``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devstack import (
    VMSYNC,
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
from test_one_way_sync import Sync

from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import (
    CONTACT_EDIT,
    DECISION,
    MARKETO_UPSERT,
    load_contract,
)

pytestmark = pytest.mark.integration

COMPONENTS = ("marketo-writer", "veeva-writer", "processor", "veeva-producer", "marketo-edits")
CAPTURE = ("veeva-producer", "marketo-edits")
PERSONS = 100
# Change queries one Veeva cycle makes at least (one per configured object when nothing
# changed): Account, User, Call2_vod__c, Call2_Key_Message_vod__c, Medical_Inquiry_vod__c.
VEEVA_QUERIES_PER_CYCLE = 5


def _stamp(text: str) -> datetime:
    """A Salesforce (``+0000``) or Marketo (``Z``) timestamp."""
    return datetime.fromisoformat(text.replace("+0000", "+00:00").replace("Z", "+00:00"))


class TwoWay(Sync):
    """The whole two-way pipeline, and the admin views a test needs on both emulators."""

    persons: list[str]
    # The Veeva emulator counts people's admin edits as records written too.
    veeva_edits_by_people = 0

    def start(self, *names: str) -> None:
        for name in names:
            self.processes[name] = start_component(name, self.config, self.root)

    def stop_components(self, *names: str) -> None:
        for name in names:
            self.processes.pop(name).stop()

    def quiet(self) -> bool:
        """Everything published so far is processed and written, both ways."""
        return (
            super().quiet()
            and group_caught_up(
                self.bootstrap,
                f"{self.prefix}.vmsync-processor",
                [self.topic("marketo.lead-edits")],
            )
            and group_caught_up(
                self.bootstrap,
                f"{self.prefix}.vmsync-veeva-writer",
                [self.topic("veeva.Account.contact-edits")],
            )
        )

    # --- Veeva -----------------------------------------------------------------------------

    def account(self, account_id: str) -> dict[str, Any]:
        with self.emulators.veeva() as veeva:
            response = veeva.get(f"/__admin/records/Account/{account_id}")
            return dict(response.raise_for_status().json())

    def edit_veeva(self, account_id: str, **fields: Any) -> dict[str, Any]:
        """Edit an account as a person (not the integration user); returns the record."""
        with self.emulators.veeva() as veeva:
            response = veeva.patch(f"/__admin/records/Account/{account_id}", json=fields)
            record = dict(response.raise_for_status().json())
        self.veeva_edits_by_people += 1
        return record

    def veeva_counters(self) -> dict[str, Any]:
        with self.emulators.veeva() as veeva:
            return dict(veeva.get("/__admin/counters").raise_for_status().json())

    # --- Marketo ---------------------------------------------------------------------------

    def lead(self, account_id: str) -> dict[str, Any]:
        with self.emulators.marketo() as marketo:
            response = marketo.get(
                "/__admin/leads", params={"field": "veevaAccountId", "value": account_id}
            )
            leads = response.raise_for_status().json()
        assert len(leads) == 1, leads
        return dict(leads[0])

    def edit_marketo(
        self, account_id: str, changes: dict[str, Any], *, kind: str
    ) -> dict[str, Any]:
        """Edit a lead as a person (``Marketo UI``) or a form fill; returns the lead."""
        lead_id = self.lead(account_id)["id"]
        with self.emulators.marketo() as marketo:
            response = marketo.post(
                f"/__admin/leads/{lead_id}/edit", json={"changes": changes, "as": kind}
            )
            body = response.raise_for_status().json()
        assert set(body["changed"]) == set(changes), body
        return dict(body["lead"])

    def marketo_counters(self) -> dict[str, Any]:
        with self.emulators.marketo() as marketo:
            return dict(marketo.get("/__admin/counters").raise_for_status().json())

    def reset_counters(self) -> None:
        with self.emulators.veeva() as veeva:
            veeva.delete("/__admin/counters").raise_for_status()
        with self.emulators.marketo() as marketo:
            marketo.post("/__admin/counters/reset").raise_for_status()
        self.veeva_edits_by_people = 0

    def writes(self) -> tuple[int, int]:
        """Records the sync wrote since the counters were reset: (Veeva Accounts, leads)."""
        veeva = self.veeva_counters().get("records_written", {}).get("Account", 0)
        marketo = self.marketo_counters().get("records", {}).get("lead", 0)
        return int(veeva) - self.veeva_edits_by_people, int(marketo)

    # --- synchronisation -------------------------------------------------------------------

    def _cycles_started(self) -> tuple[int, int]:
        veeva = self.veeva_counters().get("calls", {})
        marketo = self.marketo_counters().get("calls", {})
        queries = veeva.get("GET query", 0) + veeva.get("GET query_all", 0)
        return queries, marketo.get("GET /rest/v1/activities/leadchanges.json", 0)

    def settle(self, cycles: int = 2, *, timeout: float = 90) -> None:
        """Wait until both capture components completed ``cycles`` more cycles from now, and
        everything they published is processed and written.

        A cycle makes at least one change query per Veeva object and one lead-changes call; one
        more than ``cycles`` started means ``cycles`` completed.
        """
        queries, feeds = self._cycles_started()

        def cycled() -> bool:
            now_queries, now_feeds = self._cycles_started()
            return (
                now_queries >= queries + (cycles + 1) * VEEVA_QUERIES_PER_CYCLE
                and now_feeds >= feeds + cycles + 1
            )

        self.wait(cycled, timeout=timeout, what=f"{cycles} more capture cycles")
        self.wait(self.quiet, timeout=timeout, what="every consumer group to catch up")

    def contact_edits(self) -> list[dict[str, Any]]:
        """Every contact edit the processor sent to the Veeva writer, oldest first per account."""
        schema = load_contract(CONTACT_EDIT)
        codec = AvroCodec()
        records = read_topic(self.bootstrap, self.topic("veeva.Account.contact-edits"))
        return [codec.decode(record.value, schema) for record in records]

    def lead_commands(self) -> list[dict[str, Any]]:
        """Every lead command the processor sent to the Marketo writer, oldest first per key."""
        schema = load_contract(MARKETO_UPSERT)
        codec = AvroCodec()
        records = read_topic(self.bootstrap, self.topic("marketo.leads"))
        return [codec.decode(record.value, schema) for record in records]

    def decisions(self, account_id: str) -> list[dict[str, Any]]:
        """Every field decision recorded for an account, oldest first."""
        schema = load_contract(DECISION)
        codec = AvroCodec()
        found = []
        for record in read_topic(self.bootstrap, self.topic("vmsync.decisions")):
            if record.key == account_id.encode():
                found += codec.decode(record.value, schema)["decisions"]
        return found


@pytest.fixture
def sync(tmp_path: Path, kafka_bootstrap: str) -> Iterator[TwoWay]:
    with running_emulators(tmp_path, PERSONS) as emulators:
        config = write_config(
            tmp_path / "vmsync.yaml",
            emulators,
            kafka_bootstrap,
            extra={"sync": {"poll_interval_seconds": 1}},
        )
        create_topics(config)
        pipeline = TwoWay(tmp_path, emulators, config)
        try:
            pipeline.start(*COMPONENTS)
            expected = professional_accounts(emulators)
            pipeline.wait(
                lambda: set(marketo_leads(emulators)) >= set(expected) and pipeline.quiet(),
                timeout=180,
                what="the snapshot in Marketo",
            )
            # Every object's snapshot is done and its aftermath (owner fields) written.
            pipeline.settle()
            pipeline.persons = sorted(expected)
            yield pipeline
        finally:
            pipeline.stop()


def test_contact_edits_in_marketo_reach_veeva_account_fields_do_not(sync: TwoWay) -> None:
    contact, account_only = sync.persons[:2]
    before = {i: sync.account(i) for i in (contact, account_only)}
    sync.reset_counters()

    sync.edit_marketo(
        contact,
        {"phone": "+1 555 0142", "firstName": "Ottoline", "veevaNPI": "1999999999"},
        kind="person",
    )
    specialty = (
        "Neurology" if sync.lead(account_only)["veevaSpecialty"] != "Neurology" else "Oncology"
    )
    sync.edit_marketo(
        account_only, {"veevaNPI": "1888888888", "veevaSpecialty": specialty}, kind="person"
    )

    def arrived() -> bool:
        record = sync.account(contact)
        return record["Phone"] == "+1 555 0142" and record["FirstName"] == "Ottoline"

    sync.wait(arrived, timeout=60, what="the Marketo contact edit in Veeva")
    sync.settle()

    after = {i: sync.account(i) for i in (contact, account_only)}
    # The account fields of both persons are Veeva's; Marketo's edits of them go nowhere.
    for record_id in (contact, account_only):
        for name in ("NPI_vod__c", "Specialty_1_vod__c", "Credentials_vod__c", "OwnerId"):
            assert after[record_id][name] == before[record_id][name], (record_id, name)
    assert after[account_only] == before[account_only]
    assert after[contact]["LastName"] == before[contact]["LastName"]
    # One Veeva write (the contact edit), none for the account-field edit, none to Marketo:
    # Veeva's copy of the contact edit is the sync's own write and does not bounce back.
    veeva_writes, marketo_writes = sync.writes()
    assert (veeva_writes, marketo_writes) == (1, 0), (
        sync.veeva_counters(),
        sync.marketo_counters(),
    )


def _next_second(after: datetime) -> None:
    """Wait until the wall clock is in a later whole second than ``after`` (timestamps on
    both sides have whole seconds)."""
    wait_until(
        lambda: datetime.now(UTC) >= after.replace(microsecond=0) + timedelta(seconds=1.05),
        timeout=5,
        what="the next second",
    )


def test_the_newer_edit_wins_when_veeva_is_captured_first(sync: TwoWay) -> None:
    person = sync.persons[12]
    sync.stop_components(*CAPTURE, "veeva-writer")
    veeva_at = _stamp(sync.edit_veeva(person, Phone="+1 555 0300")["SystemModstamp"])
    _next_second(veeva_at)
    sync.edit_marketo(person, {"phone": "+1 555 0311"}, kind="person")
    assert _stamp(sync.lead(person)["updatedAt"]) > veeva_at

    # Veeva's (older) edit is captured, decided and written to Marketo first, over the
    # person's newer Marketo edit; then Marketo's edit (and the sync's write) are captured.
    sync.start("veeva-producer")
    sync.wait(
        lambda: sync.lead(person)["phone"] == "+1 555 0300" and sync.quiet(),
        timeout=60,
        what="Veeva's edit in Marketo",
    )
    sync.start("marketo-edits", "veeva-writer")

    def converged() -> bool:
        return (
            sync.account(person)["Phone"] == "+1 555 0311"
            and sync.lead(person)["phone"] == "+1 555 0311"
        )

    def where() -> str:
        return (
            f"veeva {sync.account(person)['Phone']!r}, marketo {sync.lead(person)['phone']!r}\n"
            f"decisions: {sync.decisions(person)}"
        )

    try:
        wait_until(converged, timeout=60, what="Marketo's newer phone on both sides")
        sync.settle()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{where()}") from None
    assert converged(), f"a side moved away from the newer edit: {where()}"
    decisions = [d for d in sync.decisions(person) if d["veeva_field"] == "Phone"]
    assert decisions[-1]["value"] == "+1 555 0311", where()
    accepted = [d for d in decisions if d["trigger"] == "marketo" and d["winner"] == "marketo"]
    assert [d["value"] for d in accepted] == ["+1 555 0311"], where()


def test_concurrent_edits_follow_the_policy_and_are_recorded(sync: TwoWay) -> None:
    newest, tie = sync.persons[10:12]
    # Capture stops (and the Veeva writer too, so the Veeva edit is seen before the sync
    # writes over it): both sides edit the same field between cycles.
    sync.stop_components(*CAPTURE, "veeva-writer")

    veeva_at = _stamp(sync.edit_veeva(newest, PersonTitle="Chief of Cardiology")["SystemModstamp"])
    _next_second(veeva_at)
    sync.edit_marketo(newest, {"title": "Head of Cardiology"}, kind="person")
    assert _stamp(sync.lead(newest)["updatedAt"]) > veeva_at

    # A tie: both edits within the same second (again, with new values, if a second
    # boundary falls between them).
    cities: dict[str, str] = {}
    attempts = iter(range(100))

    def tied_edits() -> bool:
        if datetime.now(UTC).microsecond > 300_000:
            return False
        attempt = next(attempts)
        cities.update(marketo=f"Marketoville {attempt}", veeva=f"Veevaburg {attempt}")
        lead = sync.edit_marketo(tie, {"city": cities["marketo"]}, kind="person")
        record = sync.edit_veeva(tie, PersonMailingCity=cities["veeva"])
        return _stamp(lead["updatedAt"]) == _stamp(record["SystemModstamp"])

    wait_until(
        tied_edits, timeout=10, interval=0.02, what="a Veeva and a Marketo edit in one second"
    )

    # Marketo's edits are captured and decided first, then Veeva's; the writer comes last.
    sync.start("marketo-edits")
    sync.wait(sync.quiet, timeout=60, what="Marketo's edits to be decided")
    sync.start("veeva-producer", "veeva-writer")

    def converged() -> bool:
        return (
            sync.account(newest)["PersonTitle"] == "Head of Cardiology"
            and sync.lead(newest)["title"] == "Head of Cardiology"
            and sync.account(tie)["PersonMailingCity"] == cities["veeva"]
            and sync.lead(tie)["city"] == cities["veeva"]
        )

    def where() -> str:
        return (
            f"title: veeva {sync.account(newest)['PersonTitle']!r}, "
            f"marketo {sync.lead(newest)['title']!r}; "
            f"city: veeva {sync.account(tie)['PersonMailingCity']!r}, "
            f"marketo {sync.lead(tie)['city']!r}\n"
            f"decisions: {sync.decisions(newest) + sync.decisions(tie)}"
        )

    try:
        wait_until(converged, timeout=90, what="the policy's winners on both sides")
        sync.settle()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{where()}") from None
    assert converged(), f"a side moved away from the winner after the conflict: {where()}"

    # The decisions say who won and why.
    def conflict_decision(account_id: str, veeva_field: str) -> dict[str, Any]:
        decisions = [
            d
            for d in sync.decisions(account_id)
            if d["veeva_field"] == veeva_field
            and d["outcome"] in ("conflict_resolved", "rejected_by_policy", "apply_to_other_side")
            and "newest_wins" in d["reason"]
        ]
        assert decisions, (account_id, sync.decisions(account_id))
        return decisions[-1]

    newer = conflict_decision(newest, "PersonTitle")
    assert newer["winner"] == "marketo", newer
    assert newer["value"] == "Head of Cardiology", newer
    tied = conflict_decision(tie, "PersonMailingCity")
    assert tied["winner"] == "veeva", tied
    assert tied["value"] == cities["veeva"], tied
    assert "tie" in tied["reason"], tied


def test_opt_outs_stick_whichever_side_changes_last(sync: TwoWay) -> None:
    email_out, call_out = sync.persons[20:22]
    assert sync.account(email_out)["PersonHasOptedOutOfEmail"] in (False, 0)
    assert sync.account(call_out)["PersonDoNotCall"] in (False, 0)

    # Opt out in Marketo; it reaches Veeva.  Opt out in Veeva; it reaches Marketo.
    sync.edit_marketo(email_out, {"unsubscribed": True}, kind="person")
    sync.edit_veeva(call_out, PersonDoNotCall=True)
    sync.wait(
        lambda: (
            sync.account(email_out)["PersonHasOptedOutOfEmail"] in (True, 1)
            and sync.lead(call_out)["doNotCall"] is True
        ),
        timeout=60,
        what="both opt-outs on the other side",
    )
    sync.settle()

    # Later, the other side tries to undo each of them.
    sync.edit_veeva(email_out, PersonHasOptedOutOfEmail=False)
    sync.edit_marketo(call_out, {"doNotCall": False}, kind="person")

    def opted_out_again() -> bool:
        return (
            sync.account(email_out)["PersonHasOptedOutOfEmail"] in (True, 1)
            and sync.lead(email_out)["unsubscribed"] is True
            and sync.account(call_out)["PersonDoNotCall"] in (True, 1)
            and sync.lead(call_out)["doNotCall"] is True
        )

    sync.wait(opted_out_again, timeout=60, what="the opt-outs restored on both sides")
    sync.settle()
    assert opted_out_again(), "an opt-out was undone after it had been restored"
    reasons = [d["reason"] for d in sync.decisions(email_out) + sync.decisions(call_out)]
    assert sum("sticky_true" in reason for reason in reasons) >= 2, reasons


def test_a_burst_of_edits_is_written_once_and_does_not_echo(sync: TwoWay) -> None:
    ids = sync.persons
    from_veeva, from_marketo = ids[30:36], ids[40:46]
    sync.reset_counters()

    for index, account_id in enumerate(from_veeva):
        sync.edit_veeva(account_id, Phone=f"+1 555 01{index:02d}", PersonTitle=f"Fellow {index}")
    for index, account_id in enumerate(from_marketo):
        sync.edit_marketo(
            account_id,
            {"mobilePhone": f"+1 555 02{index:02d}", "postalCode": f"100{index:02d}"},
            kind="person",
        )
    # A second edit of one person on each side, after the first was synced.
    sync.wait(
        lambda: (
            sync.lead(from_veeva[0])["phone"] == "+1 555 0100"
            and sync.account(from_marketo[0])["PersonMobilePhone"] == "+1 555 0200"
        ),
        timeout=60,
        what="the first edits",
    )
    sync.edit_veeva(from_veeva[0], Phone="+1 555 0199")
    sync.edit_marketo(from_marketo[0], {"mobilePhone": "+1 555 0299"}, kind="person")

    def all_arrived() -> bool:
        leads = marketo_leads(sync.emulators)
        return (
            all(
                leads[a]["phone"] == f"+1 555 01{i:02d}" and leads[a]["title"] == f"Fellow {i}"
                for i, a in enumerate(from_veeva)
                if i
            )
            and leads[from_veeva[0]]["phone"] == "+1 555 0199"
            and all(
                sync.account(a)["PersonMobilePhone"] == f"+1 555 02{i:02d}"
                and sync.account(a)["PersonMailingPostalCode"] == f"100{i:02d}"
                for i, a in enumerate(from_marketo)
                if i
            )
            and sync.account(from_marketo[0])["PersonMobilePhone"] == "+1 555 0299"
        )

    sync.wait(all_arrived, timeout=90, what="every edit on the other side")
    sync.settle()
    # At most one write per accepted edit per side: 6 + 1 person edits on each side.
    veeva_writes, marketo_writes = sync.writes()
    edits = "\n".join(
        f"{e['account_id']} {e['fields']} {e['reasons']}" for e in sync.contact_edits()
    )
    assert 0 < veeva_writes <= len(from_marketo) + 1, f"{sync.veeva_counters()}\n{edits}"
    commands = "\n".join(
        f"{c['veeva_id']} {c['fields']} {c['source_event_ids']}"
        for c in sync.lead_commands()
        if c["veeva_id"] in from_veeva + from_marketo
    )
    assert 0 < marketo_writes <= len(from_veeva) + 1, f"{sync.marketo_counters()}\n{commands}"

    # And then nothing: the sync's own writes do not come back as edits over further cycles.
    sync.settle(cycles=3)
    assert sync.writes() == (veeva_writes, marketo_writes), (
        sync.veeva_counters(),
        sync.marketo_counters(),
    )


def test_an_untrusted_form_fill_of_an_email_is_held(sync: TwoWay) -> None:
    person = sync.persons[50]
    before = sync.account(person)
    sync.reset_counters()

    sync.edit_marketo(person, {"email": "someone.else@form.example"}, kind="form")

    def dead_lettered() -> str:
        listing = subprocess.run(
            [VMSYNC, "dlq", "list", "--config", str(sync.config)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "COLUMNS": "1000"},
        ).stdout
        return listing if person in listing else ""

    listing = sync.wait(dead_lettered, timeout=60, what="the held form fill in vmsync dlq list")
    line = next(row for row in listing.splitlines() if person in row)
    assert "marketo.lead-edits" in line, line
    assert "Web form fillout" in line, line
    assert "not trusted" in line, line
    assert "UntrustedEditError" in line, line

    sync.settle()
    assert sync.account(person) == before
    assert sync.writes()[0] == 0, sync.veeva_counters()
    held = [d for d in sync.decisions(person) if d["outcome"] == "held"]
    assert [d["marketo_field"] for d in held] == ["email"], held
