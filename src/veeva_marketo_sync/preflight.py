"""Preflight: can both sides be reached, and does each have every field the mapping needs?

Run by ``vmsync check`` and at the start of every component. Returns the problems as rows
(where, what, how to fix) instead of failing on the first, so an admin can fix them in one go.
"""

from __future__ import annotations

import asyncio
import logging

from .clients.marketo import MarketoClient
from .clients.ports import SfDescribe
from .clients.veeva import VeevaClient
from .errors import VmsyncError
from .processors.mapping import Mapping
from .processors.marketo_requirements import Problem, check_custom_objects, check_lead_fields
from .settings import Settings

log = logging.getLogger(__name__)


def veeva_field_problems(object_name: str, describe: SfDescribe, mapping: Mapping) -> list[Problem]:
    """Mapped fields of ``object_name`` the integration user cannot see (or edit, both-way)."""
    obj = mapping.objects.get(object_name)
    if obj is None:
        return [
            Problem(
                f"mapping objects.{object_name}",
                "no mapping for a configured object",
                "add it to the mapping file or remove it from sync.objects",
            )
        ]
    fields = {f.name: f for f in describe.fields}
    problems: list[Problem] = []
    link = getattr(obj.target, "link_from", None)
    for sf_name in [*obj.fields, *([link] if link else [])]:
        spec = obj.fields.get(sf_name)
        field = fields.get(sf_name)
        if field is None:
            problems.append(
                Problem(
                    f"Veeva field {object_name}.{sf_name}",
                    "not visible to the integration user",
                    "grant read access in field-level security (or remove it from the mapping)",
                )
            )
        elif spec is not None and spec.direction == "both" and not field.updateable:
            problems.append(
                Problem(
                    f"Veeva field {object_name}.{sf_name}",
                    "syncs both ways but is read-only for the integration user",
                    "grant edit access in field-level security, or make it veeva_to_marketo",
                )
            )
    return problems


def check_veeva(settings: Settings, mapping: Mapping) -> list[Problem]:
    """Log in to Veeva and check every configured object's mapped fields."""
    try:
        client = VeevaClient(settings.veeva)
        problems: list[Problem] = []
        for object_name in (*settings.sync.objects, *settings.sync.custom_objects):
            problems += veeva_field_problems(object_name, client.describe(object_name), mapping)
    except VmsyncError as exc:
        return [Problem(f"Veeva at {settings.veeva.login_url}", str(exc), _fix(exc))]
    return problems


async def check_marketo(settings: Settings, mapping: Mapping) -> list[Problem]:
    """Log in to Marketo and check the lead fields and custom objects the mapping writes."""
    client = MarketoClient(settings.marketo)
    try:
        fields = await client.describe_leads()
        objects = await client.list_custom_objects()
    except VmsyncError as exc:
        return [Problem(f"Marketo at {settings.marketo.base_url}", str(exc), _fix(exc))]
    finally:
        await client.aclose()
    return check_lead_fields(mapping, fields) + check_custom_objects(mapping, objects)


def preflight(settings: Settings, mapping: Mapping) -> list[Problem]:
    """Every problem on both sides; an empty list means the sync can start."""
    return check_veeva(settings, mapping) + asyncio.run(check_marketo(settings, mapping))


def _fix(exc: VmsyncError) -> str:
    return exc.hint or "check the URL and credentials in the config, then run vmsync check again"
