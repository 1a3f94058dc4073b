"""Describe results, limited to what the integration user may see."""

from __future__ import annotations

from typing import Any

from veeva_marketo_sync.emulators.veeva.schema import OBJECTS, SOAP_TYPES, FieldDef, ObjectDef
from veeva_marketo_sync.emulators.veeva.store import Store


def _field(obj: ObjectDef, fdef: FieldDef) -> dict[str, Any]:
    updateable = fdef.updateable
    createable = fdef.createable
    if obj.name == "Account" and fdef.name == "Name":
        # Writable on business accounts only; describe reports the field as writable.
        updateable = createable = True
    is_number = fdef.type in ("double", "int")
    return {
        "name": fdef.name,
        "label": fdef.label or fdef.name,
        "type": fdef.type,
        "soapType": SOAP_TYPES[fdef.type],
        "length": 0 if is_number or fdef.type in ("boolean", "date", "datetime") else fdef.length,
        "byteLength": fdef.length * 3,
        "precision": 18 if is_number else 0,
        "scale": 2 if fdef.type == "double" else 0,
        "digits": 9 if fdef.type == "int" else 0,
        "nillable": fdef.nillable,
        "createable": createable,
        "updateable": updateable,
        "custom": fdef.custom,
        "calculated": fdef.name in ("Name", "Is_Parent_Call_vod__c") and not createable,
        "autoNumber": obj.autonumber_format is not None and fdef.name == "Name",
        "defaultedOnCreate": fdef.type == "boolean" or fdef.name in ("OwnerId", "Id"),
        "externalId": False,
        "idLookup": fdef.name in ("Id", "Name", "Username"),
        "unique": fdef.name in ("Id", "Username"),
        "filterable": fdef.type != "textarea" or fdef.length <= 255,
        "sortable": fdef.type != "textarea" or fdef.length <= 255,
        "groupable": fdef.type not in ("double", "datetime", "textarea"),
        "referenceTo": [fdef.reference_to] if fdef.reference_to else [],
        "relationshipName": fdef.relationship_name,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": False,
                "label": v.removesuffix("_vod").replace("_", " "),
                "validFor": None,
                "value": v,
            }
            for v in fdef.picklist
        ],
        "restrictedPicklist": False,
        "htmlFormatted": False,
    }


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "sobject": base,
        "describe": f"{base}/describe",
        "rowTemplate": f"{base}/{{ID}}",
    }


def _summary(obj: ObjectDef, version: str) -> dict[str, Any]:
    writable = obj.name not in ("RecordType",)
    return {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": obj.label + "s",
        "keyPrefix": obj.key_prefix,
        "custom": obj.custom,
        "createable": writable,
        "updateable": writable,
        "deletable": writable,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "layoutable": True,
        "triggerable": True,
        "urls": _urls(obj, version),
    }


def describe_global(version: str) -> dict[str, Any]:
    """``GET /sobjects``."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_summary(obj, version) for obj in OBJECTS.values()],
    }


def describe_object(store: Store, obj: ObjectDef, version: str) -> dict[str, Any]:
    """``GET /sobjects/{X}/describe``: hidden fields are absent."""
    hidden = store.hidden.get(obj.name.lower(), set())
    children = [
        {
            "childSObject": other.name,
            "field": fdef.name,
            "relationshipName": (other.name.removesuffix("__c") + "__r")
            if other.custom
            else other.name + "s",
            "cascadeDelete": other.name == "Call2_Key_Message_vod__c",
        }
        for other in OBJECTS.values()
        for fdef in other.fields
        if fdef.reference_to == obj.name and fdef.name not in ("CreatedById", "LastModifiedById")
    ]
    record_types: list[dict[str, Any]] = []
    if obj.name == "Account":
        with store.lock:
            rows = store.conn.execute(
                'SELECT Id, Name, DeveloperName FROM "RecordType" WHERE SobjectType = ?',
                ("Account",),
            ).fetchall()
        record_types = [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": dev == "Professional_vod",
                "developerName": dev,
                "master": False,
                "name": name,
                "recordTypeId": rid,
            }
            for rid, name, dev in rows
        ]
    return {
        **_summary(obj, version),
        "fields": [_field(obj, f) for f in obj.fields if f.name.lower() not in hidden],
        "childRelationships": children,
        "recordTypeInfos": record_types,
    }


def object_metadata(obj: ObjectDef, version: str) -> dict[str, Any]:
    """``GET /sobjects/{X}/``: the summary plus recent items."""
    return {"objectDescribe": _summary(obj, version), "recentItems": []}
