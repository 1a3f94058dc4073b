"""An in-memory ``MarketoApi`` for the writer's tests: idempotent by lookup value, scriptable."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from veeva_marketo_sync.clients.ports import LeadChangesPage, MarketoAction, WriteResult


@dataclass
class FakeMarketo:
    """Leads and custom objects in dicts keyed by their lookup value.

    Script it with ``reject`` (key -> (code, message)), ``failures`` (exceptions raised by the
    next calls, one per call) and ``hold_call`` (block that call number until ``release``).
    """

    leads: dict[str, dict[str, Any]] = field(default_factory=dict)
    custom: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    reject: dict[str, tuple[str, str]] = field(default_factory=dict)
    failures: list[BaseException] = field(default_factory=list)
    hold_call: int | None = None
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    calls: list[tuple[str, int]] = field(default_factory=list)
    writes: Counter[str] = field(default_factory=Counter)
    keys_per_call: list[list[str]] = field(default_factory=list)
    _next_id: int = 1000

    async def _enter(self, method: str, size: int) -> None:
        self.calls.append((method, size))
        if self.hold_call is not None and len(self.calls) == self.hold_call:
            self.held.set()
            await self.release.wait()
        if self.failures:
            raise self.failures.pop(0)

    @property
    def calls_made(self) -> int:
        return len(self.calls)

    def calls_of(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)

    async def describe_leads(self) -> list[Mapping[str, Any]]:
        await self._enter("describe_leads", 0)
        return []

    async def sync_leads(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        lookup_field: str,
        action: MarketoAction = "createOrUpdate",
    ) -> list[WriteResult]:
        await self._enter("sync_leads", len(records))
        keys = [str(record[lookup_field]) for record in records]
        self.keys_per_call.append(keys)
        results = []
        for key, record in zip(keys, records, strict=True):
            if key in self.reject:
                code, message = self.reject[key]
                results.append(
                    WriteResult(key, ok=False, status="skipped", error_code=code, message=message)
                )
                continue
            existing = self.leads.get(key)
            if existing is None:
                self._next_id += 1
                self.leads[key] = {"id": self._next_id, **record}
                status = "created"
            else:
                existing.update(record)
                status = "updated"
            self.writes[key] += 1
            results.append(
                WriteResult(key, ok=True, remote_id=str(self.leads[key]["id"]), status=status)
            )
        return results

    async def get_leads(
        self, filter_type: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[Mapping[str, Any]]:
        await self._enter("get_leads", len(values))
        return [
            {name: lead.get(name) for name in fields}
            for lead in self.leads.values()
            if str(lead.get(filter_type)) in values
        ]

    async def delete_leads(self, lead_ids: Sequence[int]) -> list[WriteResult]:
        await self._enter("delete_leads", len(lead_ids))
        results = []
        for lead_id in lead_ids:
            key = next((k for k, lead in self.leads.items() if lead["id"] == lead_id), None)
            if key is None:
                results.append(WriteResult(str(lead_id), ok=False, error_code="1004"))
            else:
                del self.leads[key]
                results.append(WriteResult(str(lead_id), ok=True, status="deleted"))
        return results

    async def list_custom_objects(self) -> list[Mapping[str, Any]]:
        await self._enter("list_custom_objects", 0)
        return []

    async def sync_custom_objects(
        self, name: str, records: Sequence[Mapping[str, Any]], *, dedupe_by: str = "dedupeFields"
    ) -> list[WriteResult]:
        await self._enter("sync_custom_objects", len(records))
        store = self.custom.setdefault(name, {})
        results = []
        for record in records:
            key = (
                str(record["veevaId"]) if "veevaId" in record else str(next(iter(record.values())))
            )
            store.setdefault(key, {}).update(record)
            self.writes[key] += 1
            results.append(WriteResult(key, ok=True, remote_id=f"guid-{key}", status="updated"))
        return results

    async def delete_custom_objects(
        self, name: str, keys: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        await self._enter("delete_custom_objects", len(keys))
        store = self.custom.setdefault(name, {})
        results = []
        for key_fields in keys:
            key = str(next(iter(key_fields.values())))
            found = store.pop(key, None) is not None
            results.append(WriteResult(key, ok=found, error_code=None if found else "1013"))
        return results

    async def paging_token(self, since_iso: str) -> str:
        await self._enter("paging_token", 0)
        return "token"

    async def lead_changes(
        self, page_token: str, fields: Sequence[str], *, batch_size: int = 300
    ) -> LeadChangesPage:
        await self._enter("lead_changes", 0)
        return LeadChangesPage((), page_token, more_result=False)

    async def aclose(self) -> None:
        return None
