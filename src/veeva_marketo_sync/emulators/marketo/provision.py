"""Create in a running Marketo emulator what a mapping needs, as a Marketo admin would.

The demo and the end-to-end tests call this; with a real Marketo instance an admin creates the
same fields and custom objects (listed by ``vmsync check`` and in the README).
"""

from __future__ import annotations

import httpx

from veeva_marketo_sync.processors.mapping import Mapping
from veeva_marketo_sync.processors.marketo_requirements import (
    required_custom_objects,
    required_lead_fields,
)

#: Fields every Marketo instance has; everything else the mapping needs is custom.
_STANDARD = frozenset(
    {"email", "firstName", "lastName", "salutation", "title", "phone", "mobilePhone",
     "address", "city", "state", "postalCode", "country", "unsubscribed", "doNotCall"}
)  # fmt: skip


def provision_marketo(
    base_url: str, mapping: Mapping, *, skip: frozenset[str] = frozenset()
) -> list[str]:
    """Create the lead fields and custom objects ``mapping`` needs; returns what was created.

    ``skip`` names lead fields to leave out (tests use it to make one "missing").
    """
    created: list[str] = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        existing = {f["name"] for f in http.get("/__admin/lead-fields").raise_for_status().json()}
        for field in required_lead_fields(mapping):
            if field.name in _STANDARD | existing | skip:
                continue
            http.post(
                "/__admin/lead-fields", json={"name": field.name, "dataType": field.data_type}
            ).raise_for_status()
            created.append(f"lead field {field.name}")
        objects = {o["name"] for o in http.get("/__admin/custom-objects").raise_for_status().json()}
        for obj in required_custom_objects(mapping):
            if obj.name in objects or obj.name in skip:
                continue
            spec = {
                "apiName": obj.name,
                "displayName": obj.name.removesuffix("_c"),
                "dedupeFields": [obj.dedupe_field],
                "fields": [{"name": f.name, "dataType": f.data_type} for f in obj.fields],
                "relationship": {
                    "field": obj.link_field,
                    "relatedTo": {"name": "Lead", "field": obj.link_field},
                },
            }
            http.post("/__admin/custom-objects", json=spec).raise_for_status()
            created.append(f"custom object {obj.name}")
    return created
