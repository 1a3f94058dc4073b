"""The processors' pure per-batch handlers: Veeva events and lead edits in, records out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from processor_builders import ACCOUNT_ID, OWNER_ID, T0, Events, call, person, stamp, user

from veeva_marketo_sync.processors.encoding import OutputEncoder
from veeva_marketo_sync.processors.mapping import Mapping, load_mapping, parse_mapping
from veeva_marketo_sync.processors.messages import Incoming
from veeva_marketo_sync.processors.pipeline import Pipeline
from veeva_marketo_sync.processors.state import TABLES, StateView, apply_writes
from veeva_marketo_sync.producers.change_events import Op
from veeva_marketo_sync.topics import Topics

NOW = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
TOPICS = Topics("t")
LEADS = TOPICS.marketo("leads")
CALLS = TOPICS.marketo("co.veevaCall_c")


@dataclass
class Out:
    topic: str
    key: str | None
    value: Any
    headers: dict[str, str]


@dataclass
class Harness:
    mapping: Mapping = field(default_factory=load_mapping)
    events: Events = field(default_factory=lambda: Events(TOPICS))
    tables: dict[str, dict[str, Any]] = field(default_factory=lambda: {name: {} for name in TABLES})
    offset: int = 0

    def __post_init__(self) -> None:
        self.pipeline = Pipeline(
            self.mapping, OutputEncoder(self.events.codec, TOPICS), clock=lambda: NOW
        )

    def incoming(self, topic: str, key: bytes | None, value: bytes | None) -> Incoming:
        self.offset += 1
        return Incoming(topic, 0, self.offset, key, value, (("trace", b"t1"),))

    def veeva(self, object_name: str, record: dict[str, Any], op: Op = Op.UPSERT) -> Incoming:
        key, value = self.events.change(object_name, record, op)
        return self.incoming(TOPICS.veeva(object_name), key, value)

    def edit(self, marketo_field: str, value: str | None, **kwargs: Any) -> Incoming:
        key, raw = self.events.lead_edit(marketo_field, value, **kwargs)
        return self.incoming(TOPICS.lead_edits, key, raw)

    def batch(self, *events: Incoming) -> list[Out]:
        view = StateView(self.tables)
        result = self.pipeline.handle(events, view)
        apply_writes(view.writes, self.tables)
        outs = []
        for out in result.outputs:
            headers = {name: raw.decode() for name, raw in out.headers}
            decoded = out.value
            if out.topic != TOPICS.dlq:
                decoded = self.events.codec.decode(out.value or b"")
            outs.append(Out(out.topic, out.key.decode() if out.key else None, decoded, headers))
        return outs


def only(outs: list[Out], topic: str) -> list[Out]:
    return [out for out in outs if out.topic == topic]


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_first_person_event_becomes_one_create_or_update_with_mapped_fields(h: Harness) -> None:
    outs = h.batch(h.veeva("Account", person(), Op.SNAPSHOT))

    assert [out.topic for out in outs] == [LEADS]  # first values are no decision to record
    command = outs[0].value
    assert outs[0].key == ACCOUNT_ID
    assert command["action"] == "createOrUpdate"
    assert command["target_kind"] == "lead"
    assert command["fields"]["veevaAccountId"] == ACCOUNT_ID
    assert command["fields"]["email"] == "ada@example.org"
    assert command["fields"]["firstName"] == "Ada"
    assert command["fields"]["veevaSpecialty"] == "Cardiology"
    assert command["fields"]["veevaIsDeleted"] is False
    assert command["fields"]["veevaCreatedDate"] == "2024-05-01T10:00:00Z"
    assert "Description" not in str(command["fields"])
    assert command["source_event_ids"] == ["t.veeva.Account/0/1"]


def test_the_same_record_again_costs_no_marketo_call(h: Harness) -> None:
    h.batch(h.veeva("Account", person(), Op.SNAPSHOT))

    assert h.batch(h.veeva("Account", person(SystemModstamp=stamp(T0 + timedelta(1))))) == []


def test_a_change_to_an_unmapped_field_produces_no_command(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))

    assert h.batch(h.veeva("Account", person(Description="second"))) == []


def test_a_change_to_a_mapped_field_produces_a_command(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))

    outs = h.batch(h.veeva("Account", person(NPI_vod__c="999")))

    assert [out.topic for out in outs] == [LEADS]
    assert outs[0].value["fields"]["veevaNPI"] == "999"


def test_a_veeva_change_of_a_contact_field_is_sent_and_recorded(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))
    later = stamp(T0 + timedelta(hours=1))

    outs = h.batch(h.veeva("Account", person(PersonEmail="ADA@new.org", SystemModstamp=later)))

    assert only(outs, LEADS)[0].value["fields"]["email"] == "ada@new.org"
    (record,) = only(outs, TOPICS.decisions)
    (decision,) = record.value["decisions"]
    assert decision["veeva_field"] == "PersonEmail"
    assert decision["outcome"] == "apply_to_other_side"
    assert decision["winner"] == "veeva"
    assert decision["written_to"] == ["marketo"]
    assert only(outs, TOPICS.contact_edits) == []


def test_known_owner_fields_go_on_the_person(h: Harness) -> None:
    assert h.batch(h.veeva("User", user())) == []  # owns nobody yet

    outs = h.batch(h.veeva("Account", person()))

    fields = outs[0].value["fields"]
    assert fields["veevaOwnerName"] == "Grace Hopper"
    assert fields["veevaOwnerEmail"] == "grace@example.org"


def test_a_user_change_refreshes_its_persons_update_only(h: Harness) -> None:
    h.batch(h.veeva("Account", person()), h.veeva("Account", person(Id="001000000000002AAA")))

    outs = h.batch(h.veeva("User", user(Title="Head of KAM")))

    assert [out.key for out in outs] == [ACCOUNT_ID, "001000000000002AAA"]
    for out in outs:
        assert out.topic == LEADS
        assert out.value["action"] == "updateOnly"
        assert out.value["fields"]["veevaOwnerTitle"] == "Head of KAM"
        assert out.value["fields"]["veevaAccountId"] == out.key
    assert h.batch(h.veeva("User", user(Title="Head of KAM"))) == []


def test_an_owner_seen_after_its_person_refreshes_it_once(h: Harness) -> None:
    first = h.batch(h.veeva("Account", person()))
    assert "veevaOwnerName" not in first[0].value["fields"]

    (refresh,) = h.batch(h.veeva("User", user()))

    assert refresh.value["action"] == "updateOnly"
    assert refresh.value["fields"]["veevaOwnerName"] == "Grace Hopper"
    assert h.batch(h.veeva("Account", person(Description="unmapped"))) == []
    again = h.batch(h.veeva("Account", person(NPI_vod__c="1")))
    assert again[0].value["fields"]["veevaOwnerName"] == "Grace Hopper"


def test_a_person_that_changes_owner_leaves_the_old_owners_list(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))
    h.batch(h.veeva("Account", person(OwnerId="005000000000003AAA")))

    assert h.batch(h.veeva("User", user(Title="Other"))) == []
    assert h.tables["owned"] == {"005000000000003AAA": [ACCOUNT_ID]}


def test_a_deleted_person_is_flagged_update_only_by_default(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))

    outs = h.batch(h.veeva("Account", person(IsDeleted=True), Op.DELETE))

    (out,) = outs
    assert out.topic == LEADS
    assert out.value["action"] == "updateOnly"
    assert out.value["fields"] == {"veevaAccountId": ACCOUNT_ID, "veevaIsDeleted": True}
    assert h.tables["owned"] == {}
    # Undeleted later: everything is sent again, with the flag cleared.
    again = h.batch(h.veeva("Account", person()))
    assert again[0].value["fields"]["veevaIsDeleted"] is False


def test_a_call_waits_for_its_person_then_follows_the_lead_command(h: Harness) -> None:
    assert h.batch(h.veeva("Call2_vod__c", call())) == []  # no lead for the person yet

    lead, released = h.batch(h.veeva("Account", person()))

    assert lead.topic == LEADS
    assert released.topic == CALLS
    assert released.value["fields"]["veevaAccountId"] == ACCOUNT_ID
    assert h.tables["waiting"] == {}
    assert h.batch(h.veeva("Call2_vod__c", call(Status_vod__c="Saved_vod")))[0].topic == CALLS


def test_a_deleted_call_is_deleted_in_marketo(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))
    created = h.batch(h.veeva("Call2_vod__c", call()))
    assert created[0].topic == CALLS
    assert created[0].value["fields"]["veevaAccountId"] == ACCOUNT_ID
    assert created[0].value["fields"]["callDate"] == "2024-05-01"

    (out,) = h.batch(h.veeva("Call2_vod__c", call(), Op.DELETE))

    assert out.topic == CALLS
    assert out.value["target_kind"] == "delete"
    assert out.value["veeva_id"] == "a04000000000001AAA"


def test_delete_policy_ignore_sends_nothing() -> None:
    text = (
        resources.files("veeva_marketo_sync.processors")
        .joinpath("default_mapping.yaml")
        .read_text(encoding="utf-8")
    )
    mapping = parse_mapping(text.replace("on_delete: flag ", "on_delete: ignore "))
    h = Harness(mapping=mapping)

    assert h.batch(h.veeva("Account", person(), Op.DELETE)) == []


def test_tombstones_are_skipped(h: Harness) -> None:
    assert h.batch(h.incoming(TOPICS.veeva("Account"), ACCOUNT_ID.encode(), None)) == []


def test_an_accepted_lead_edit_becomes_a_contact_edit_and_a_decision(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))

    outs = h.batch(h.edit("email", "ada@marketo.org"))

    (edit,) = only(outs, TOPICS.contact_edits)
    assert edit.key == ACCOUNT_ID
    assert edit.value["fields"] == {"PersonEmail": "ada@marketo.org"}
    assert edit.value["origin"] == "marketo"
    assert edit.value["source_event_ids"] == ["t.marketo.lead-edits/0/2"]
    (record,) = only(outs, TOPICS.decisions)
    assert record.key == ACCOUNT_ID
    (decision,) = record.value["decisions"]
    assert decision["winner"] == "marketo"
    assert decision["outcome"] == "apply_to_other_side"
    assert decision["trigger"] == "marketo"
    assert only(outs, LEADS) == []


def test_the_echo_of_an_applied_edit_is_dropped(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))
    h.batch(h.edit("email", "ada@marketo.org"))
    # The Veeva writer applied it; the next capture cycle sees the sync's own write.
    later = stamp(T0 + timedelta(hours=1))

    outs = h.batch(h.veeva("Account", person(PersonEmail="ada@marketo.org", SystemModstamp=later)))

    assert outs == []


def test_an_untrusted_edit_is_held_in_the_dlq_with_the_reason(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))
    edit = h.edit("email", "spam@example.com", source="Web form fillout")

    outs = h.batch(edit)

    (letter,) = only(outs, TOPICS.dlq)
    assert letter.key == ACCOUNT_ID
    assert letter.value == edit.value
    assert letter.headers["trace"] == "t1"
    assert letter.headers["__connect.errors.topic"] == TOPICS.lead_edits
    assert letter.headers["__connect.errors.offset"] == str(edit.offset)
    assert letter.headers["__connect.errors.stage"] == "trust"
    assert letter.headers["__connect.errors.exception.class.name"] == "UntrustedEditError"
    assert "Web form fillout" in letter.headers["__connect.errors.exception.message"]
    assert only(outs, TOPICS.contact_edits) == []
    (record,) = only(outs, TOPICS.decisions)
    assert record.value["decisions"][0]["outcome"] == "held"


def test_an_edit_of_a_field_marketo_keeps_is_ignored(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))

    assert h.batch(h.edit("leadScore", "12")) == []


def test_an_opt_out_cannot_be_undone_from_marketo(h: Harness) -> None:
    h.batch(h.veeva("Account", person(PersonHasOptedOutOfEmail=True)))

    outs = h.batch(h.edit("unsubscribed", "false"))

    (correction,) = only(outs, LEADS)
    assert correction.value["action"] == "updateOnly"
    assert correction.value["fields"] == {"veevaAccountId": ACCOUNT_ID, "unsubscribed": True}
    assert only(outs, TOPICS.contact_edits) == []
    decision = only(outs, TOPICS.decisions)[0].value["decisions"][0]
    assert decision["outcome"] == "rejected_by_policy"


def test_both_sides_in_one_batch_are_resolved_newest_wins(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))
    veeva_at = T0 + timedelta(minutes=10)

    outs = h.batch(
        h.edit("email", "new@marketo.org", at=T0 + timedelta(minutes=20)),
        h.veeva("Account", person(PersonEmail="new@veeva.org", SystemModstamp=stamp(veeva_at))),
    )

    decision = only(outs, TOPICS.decisions)[0].value["decisions"][0]
    assert decision["outcome"] == "conflict_resolved"
    assert decision["winner"] == "marketo"
    assert decision["trigger"] == "both"
    assert only(outs, TOPICS.contact_edits)[0].value["fields"] == {"PersonEmail": "new@marketo.org"}
    assert only(outs, LEADS) == []  # Marketo already holds the winner


def test_bad_payload_goes_to_the_dlq_and_the_batch_goes_on(h: Harness) -> None:
    bad = h.incoming(TOPICS.veeva("Account"), b"001BAD", b"not avro at all")
    h.batch(h.veeva("Account", person()))

    outs = h.batch(bad, h.veeva("Call2_vod__c", call()))

    letter, command = outs
    assert letter.topic == TOPICS.dlq
    assert letter.value == b"not avro at all"
    assert letter.key == "001BAD"
    assert letter.headers["__connect.errors.stage"] == "decode"
    assert letter.headers["__connect.errors.exception.class.name"] == "SchemaDecodeError"
    assert letter.headers["__connect.errors.connector.name"] == "vmsync-processor"
    assert command.topic == CALLS


def test_a_record_the_rules_cannot_map_goes_to_the_dlq(h: Harness) -> None:
    orphan = h.veeva("Call2_vod__c", call(Account_vod__c=None))

    (letter,) = h.batch(orphan)

    assert letter.topic == TOPICS.dlq
    assert letter.headers["__connect.errors.stage"] == "map"
    assert letter.headers["__connect.errors.exception.class.name"] == "RecordError"
    assert h.tables["sent"] == {}


def test_a_lead_edit_without_a_veeva_id_goes_to_the_dlq(h: Harness) -> None:
    key, value = h.events.lead_edit("email", "x@y.org", account_id="")

    (letter,) = h.batch(h.incoming(TOPICS.lead_edits, None, value))

    assert letter.headers["__connect.errors.exception.class.name"] == "BadEventError"
    assert key == b""


def test_an_event_of_another_object_on_a_topic_is_refused(h: Harness) -> None:
    key, value = h.events.change("User", user())

    (letter,) = h.batch(h.incoming(TOPICS.veeva("Account"), key, value))

    assert letter.topic == TOPICS.dlq
    assert "'User' on the topic of Account" in letter.headers["__connect.errors.exception.message"]


def test_owner_of_a_person_is_user_id_owned_in_state(h: Harness) -> None:
    h.batch(h.veeva("Account", person()))

    assert h.tables["owned"] == {OWNER_ID: [ACCOUNT_ID]}
    assert h.tables["sent"][ACCOUNT_ID]["owner"] == OWNER_ID
    assert "PersonEmail" in h.tables["conflicts"][ACCOUNT_ID]
