"""Builders of processor inputs, encoded exactly as the producers encode them.

Shared by the unit tests and (loaded by path) the integration tests of the processors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from veeva_marketo_sync.producers.change_events import EventContext, Op, change_event, record_key
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import LEAD_EDIT, envelope_schema, load_contract
from veeva_marketo_sync.schemas.from_describe import schema_from_describe
from veeva_marketo_sync.topics import Topics

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
ACCOUNT_ID = "001000000000001AAA"
OWNER_ID = "005000000000001AAA"
INTEGRATION_USER = "005000000000009AAA"


def _field(name: str, sf_type: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": sf_type, **extra}


_COMMON = [
    _field("Id", "id"),
    _field("SystemModstamp", "datetime"),
    _field("LastModifiedById", "reference", relationshipName="LastModifiedBy"),
    _field("CreatedDate", "datetime"),
]

DESCRIBES: dict[str, dict[str, Any]] = {
    "Account": {
        "name": "Account",
        "fields": [
            *_COMMON,
            _field("FirstName", "string"),
            _field("LastName", "string"),
            _field("PersonEmail", "email"),
            _field("Phone", "phone"),
            _field("PersonHasOptedOutOfEmail", "boolean"),
            _field("Specialty_1_vod__c", "picklist"),
            _field("NPI_vod__c", "string"),
            _field("Description", "textarea"),
            _field("IsPersonAccount", "boolean"),
            _field("OwnerId", "reference", relationshipName="Owner", referenceTo=["User"]),
            _field(
                "RecordTypeId",
                "reference",
                relationshipName="RecordType",
                referenceTo=["RecordType"],
            ),
        ],
    },
    "User": {
        "name": "User",
        "fields": [
            *_COMMON,
            _field("Name", "string"),
            _field("Email", "email"),
            _field("Title", "string"),
        ],
    },
    "Call2_vod__c": {
        "name": "Call2_vod__c",
        "fields": [
            *_COMMON,
            _field("Name", "string"),
            _field("Status_vod__c", "picklist"),
            _field("Call_Date_vod__c", "date"),
            _field(
                "Account_vod__c",
                "reference",
                relationshipName="Account_vod__r",
                referenceTo=["Account"],
            ),
        ],
    },
}
RELATED = {"RecordType": {"name": "RecordType", "fields": [_field("DeveloperName", "string")]}}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def person(**values: Any) -> dict[str, Any]:
    """A Person Account as the Salesforce REST API returns it."""
    record: dict[str, Any] = {
        "Id": ACCOUNT_ID,
        "SystemModstamp": stamp(T0),
        "CreatedDate": stamp(T0),
        "LastModifiedById": "005000000000002AAA",
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "PersonEmail": "ada@example.org",
        "Phone": "+44 20 7946 0000",
        "PersonHasOptedOutOfEmail": False,
        "Specialty_1_vod__c": "Cardiology_vod",
        "NPI_vod__c": "1234567890",
        "Description": "first",
        "IsPersonAccount": True,
        "OwnerId": OWNER_ID,
        "RecordType": {"DeveloperName": "Professional_vod"},
    }
    record.update(values)
    return record


def user(**values: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "Id": OWNER_ID,
        "SystemModstamp": stamp(T0),
        "CreatedDate": stamp(T0),
        "LastModifiedById": "005000000000002AAA",
        "Name": "Grace Hopper",
        "Email": "Grace@Example.org",
        "Title": "KAM",
    }
    record.update(values)
    return record


def call(**values: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "Id": "a04000000000001AAA",
        "SystemModstamp": stamp(T0),
        "CreatedDate": stamp(T0),
        "LastModifiedById": "005000000000002AAA",
        "Name": "C-00001",
        "Status_vod__c": "Submitted_vod",
        "Call_Date_vod__c": "2024-05-01",
        "Account_vod__c": ACCOUNT_ID,
    }
    record.update(values)
    return record


@dataclass
class Events:
    """Encodes change events and lead edits for one deployment's topics."""

    topics: Topics = field(default_factory=Topics)
    codec: AvroCodec = field(default_factory=AvroCodec)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, describe in DESCRIBES.items():
            wanted = [f["name"] for f in describe["fields"]]
            if name == "Account":
                wanted.append("RecordType.DeveloperName")
            payload = schema_from_describe(describe, wanted, related=RELATED)
            self.schemas[name] = envelope_schema(payload)

    def change(
        self, object_name: str, record: dict[str, Any], op: Op = Op.UPSERT
    ) -> tuple[bytes, bytes]:
        """(key, value) of a change event, built like the Veeva capture builds them."""
        schema = self.schemas[object_name]
        payload = next(f for f in schema["fields"] if f["name"] == "after")["type"][1]
        context = EventContext(object_name, "00D000000000001AAA", "cycle-1", T0)
        event = change_event(record, payload, context, op)
        value = self.codec.encode(self.topics.veeva(object_name), schema, event)
        return record_key(record["Id"]), value

    def lead_edit(
        self,
        marketo_field: str,
        new_value: str | None,
        *,
        source: str = "Marketo UI",
        at: datetime = T0 + timedelta(minutes=5),
        account_id: str = ACCOUNT_ID,
        activity_id: int = 1,
    ) -> tuple[bytes, bytes]:
        """(key, value) of a lead edit, keyed by the Veeva Account Id."""
        record = {
            "lead_id": 42,
            "veeva_account_id": account_id,
            "field": marketo_field,
            "old_value": None,
            "new_value": new_value,
            "activity_id": activity_id,
            "activity_time": at,
            "attributes": {"Source": source},
            "reason": None,
        }
        value = self.codec.encode(self.topics.lead_edits, load_contract(LEAD_EDIT), record)
        return account_id.encode(), value
