"""Marketo Engage client (async): leads, custom objects and the lead-changes feed.

Implements ``ports.MarketoApi``. Every method is one API call, or a few when it pages; each
goes through ``MarketoHttp`` (token, rate budget, retries, error mapping).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from itertools import islice
from types import TracebackType
from typing import Any, Self

import httpx

from veeva_marketo_sync.errors import FatalError
from veeva_marketo_sync.settings import MarketoSettings

from .marketo_errors import MktAction, classify_code
from .marketo_http import MarketoHttp
from .ports import LeadChange, LeadChangesPage, MarketoAction, WriteResult
from .rate_budget import BudgetStatus, RateBudget
from .retry import RetryPolicy

MAX_BATCH = 300
"""Marketo's limit of records per Lead Database call."""
MAX_URL_BYTES = 8 * 1024
"""Longer URIs get HTTP 414; such reads go as POST with ``_method=GET``."""
CHANGE_DATA_VALUE = 13
"""Activity type of a field change in the lead-changes feed."""

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DONE = frozenset({"created", "updated", "deleted"})


class MarketoClient:
    """Marketo REST API over one shared ``httpx.AsyncClient``; see ``ports.MarketoApi``.

    Pass ``transport`` (e.g. ``httpx.MockTransport``) or a whole ``client`` to take over the
    network, and the same ``budget`` to every client of one Marketo instance in a process.
    """

    def __init__(
        self,
        settings: MarketoSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
        budget: RateBudget | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = MarketoHttp(
            settings,
            client=client,
            transport=transport,
            budget=budget,
            retry=retry,
            sleep=sleep,
            clock=clock,
        )
        self._dedupe_fields: dict[str, tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return f"MarketoClient(base_url={self._http.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def calls_made(self) -> int:
        """API calls made so far (token calls not counted: Marketo does not count them)."""
        return self._http.calls_made

    @property
    def budget(self) -> RateBudget:
        """The rate budget this client spends from."""
        return self._http.budget

    def budget_status(self) -> BudgetStatus:
        """Calls today, what remains, and when a quota pause ends."""
        return self._http.budget.status()

    async def aclose(self) -> None:
        """Release connections."""
        await self._http.aclose()

    # Leads

    async def describe_leads(self) -> list[Mapping[str, Any]]:
        """Lead fields in the describe2 shape (name, dataType, length, updateable, crmManaged)."""
        body = await self._http.request(
            "GET", "/rest/v1/leads/describe2.json", context="lead describe"
        )
        result = body.get("result") or [{}]
        return list(result[0].get("fields") or [])

    async def sync_leads(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        lookup_field: str,
        action: MarketoAction = "createOrUpdate",
    ) -> list[WriteResult]:
        """Create or update up to 300 leads; one result per input, in input order."""
        _check_batch(records)
        if not records:
            return []
        context = f"sync of {len(records)} leads"
        body = await self._http.request(
            "POST",
            "/rest/v1/leads.json",
            context=context,
            json={"action": action, "lookupField": lookup_field, "input": list(records)},
        )
        keys = [str(record.get(lookup_field, "")) for record in records]
        return write_results(keys, body, context=context)

    async def get_leads(
        self, filter_type: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[Mapping[str, Any]]:
        """Leads whose ``filter_type`` is one of ``values`` (300 values per call, paged)."""
        leads: list[Mapping[str, Any]] = []
        for chunk in _batched(values, MAX_BATCH):
            params: dict[str, Any] = {
                "filterType": filter_type,
                "filterValues": ",".join(chunk),
                "batchSize": MAX_BATCH,
            }
            if fields:
                params["fields"] = ",".join(fields)
            while True:
                body = await self._read("/rest/v1/leads.json", params, context="lead lookup")
                page = body.get("result") or []
                leads.extend(page)
                token = body.get("nextPageToken")
                if not token or not page:
                    break
                params["nextPageToken"] = token
        return leads

    async def delete_leads(self, lead_ids: Sequence[int]) -> list[WriteResult]:
        """Delete up to 300 leads by Marketo id; one result per id, in order."""
        _check_batch(lead_ids)
        if not lead_ids:
            return []
        context = f"delete of {len(lead_ids)} leads"
        body = await self._http.request(
            "POST",
            "/rest/v1/leads/delete.json",
            context=context,
            json={"input": [{"id": lead_id} for lead_id in lead_ids]},
        )
        return write_results([str(lead_id) for lead_id in lead_ids], body, context=context)

    # Custom objects

    async def list_custom_objects(self) -> list[Mapping[str, Any]]:
        """Every custom object type, described: fields, dedupe fields and relationships."""
        body = await self._http.request(
            "GET", "/rest/v1/customobjects.json", context="custom object list"
        )
        described: list[Mapping[str, Any]] = []
        for summary in body.get("result") or []:
            name = _api_name(str(summary.get("name", "")))
            detail = await self._http.request(
                "GET",
                f"/rest/v1/customobjects/{name}/describe.json",
                context=f"describe of custom object {name}",
            )
            rows = detail.get("result") or [summary]
            self._dedupe_fields[name] = tuple(rows[0].get("dedupeFields") or ())
            described.append(rows[0])
        return described

    async def sync_custom_objects(
        self, name: str, records: Sequence[Mapping[str, Any]], *, dedupe_by: str = "dedupeFields"
    ) -> list[WriteResult]:
        """Create or update up to 300 records of custom object ``name``; results in order.

        Each result's key is the record's dedupe field values joined by ``|`` (its
        ``marketoGUID`` when ``dedupe_by="idField"``).
        """
        name = _api_name(name)
        _check_batch(records)
        if not records:
            return []
        key_fields = ("marketoGUID",) if dedupe_by == "idField" else await self._dedupe(name)
        context = f"sync of {len(records)} {name} records"
        body = await self._http.request(
            "POST",
            f"/rest/v1/customobjects/{name}.json",
            context=context,
            json={"action": "createOrUpdate", "dedupeBy": dedupe_by, "input": list(records)},
        )
        return write_results([_key(r, key_fields) for r in records], body, context=context)

    async def delete_custom_objects(
        self, name: str, keys: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """Delete records of ``name`` by dedupe fields (or by ``marketoGUID`` when given)."""
        name = _api_name(name)
        _check_batch(keys)
        if not keys:
            return []
        by_guid = all(set(key) == {"marketoGUID"} for key in keys)
        context = f"delete of {len(keys)} {name} records"
        body = await self._http.request(
            "POST",
            f"/rest/v1/customobjects/{name}/delete.json",
            context=context,
            json={"deleteBy": "idField" if by_guid else "dedupeFields", "input": list(keys)},
        )
        key_fields = tuple(keys[0]) if keys else ()
        return write_results([_key(k, key_fields) for k in keys], body, context=context)

    # Lead changes

    async def paging_token(self, since_iso: str) -> str:
        """A paging token for activities since ``since_iso`` (ISO 8601)."""
        body = await self._http.request(
            "GET",
            "/rest/v1/activities/pagingtoken.json",
            context="paging token",
            params={"sinceDatetime": since_iso},
        )
        token = body.get("nextPageToken")
        if not token:
            raise FatalError("Marketo answered the paging token call without nextPageToken")
        return str(token)

    async def lead_changes(
        self, page_token: str, fields: Sequence[str], *, batch_size: int = MAX_BATCH
    ) -> LeadChangesPage:
        """One page of Change Data Value activities on ``fields``: one row per changed field."""
        if not 1 <= batch_size <= MAX_BATCH:
            msg = f"batch_size must be between 1 and {MAX_BATCH}, got {batch_size}"
            raise ValueError(msg)
        body = await self._http.request(
            "GET",
            "/rest/v1/activities/leadchanges.json",
            context="lead changes",
            params={
                "nextPageToken": page_token,
                "fields": ",".join(fields),
                "batchSize": batch_size,
            },
        )
        changes = tuple(
            change for activity in body.get("result") or [] for change in parse_activity(activity)
        )
        return LeadChangesPage(
            changes=changes,
            next_page_token=str(body.get("nextPageToken") or page_token),
            more_result=bool(body.get("moreResult", False)),
        )

    async def _read(self, path: str, params: Mapping[str, Any], *, context: str) -> dict[str, Any]:
        url = httpx.URL(self._http.base_url + path, params=params)
        if len(str(url).encode()) <= MAX_URL_BYTES:
            return await self._http.request("GET", path, context=context, params=params)
        return await self._http.request(
            "POST", path, context=context, data={**params, "_method": "GET"}
        )

    async def _dedupe(self, name: str) -> tuple[str, ...]:
        if name not in self._dedupe_fields:
            body = await self._http.request(
                "GET",
                "/rest/v1/customobjects.json",
                context=f"custom object {name} lookup",
                params={"names": name},
            )
            rows = body.get("result") or []
            if not rows:
                msg = f"Marketo has no custom object {name!r} (or it is not approved yet)"
                raise FatalError(msg)
            self._dedupe_fields[name] = tuple(rows[0].get("dedupeFields") or ())
        return self._dedupe_fields[name]


def write_results(
    keys: Sequence[str], body: Mapping[str, Any], *, context: str
) -> list[WriteResult]:
    """Map a write call's ``result`` array onto one ``WriteResult`` per input, in input order."""
    rows = list(body.get("result") or [])
    if len(rows) != len(keys):
        msg = f"Marketo answered {len(rows)} results for {len(keys)} records during {context}"
        raise FatalError(msg)
    if all("seq" in row for row in rows):
        rows.sort(key=lambda row: int(row["seq"]))
    return [_write_result(key, row) for key, row in zip(keys, rows, strict=True)]


def _write_result(key: str, row: Mapping[str, Any]) -> WriteResult:
    status = str(row.get("status", "skipped"))
    remote = row.get("id", row.get("marketoGUID"))
    remote_id = str(remote) if remote is not None else None
    if status in _DONE:
        return WriteResult(key=key, ok=True, remote_id=remote_id, status=status)
    reasons = [r for r in row.get("reasons") or [] if isinstance(r, Mapping)]
    code = str(reasons[0].get("code")) if reasons else None
    message = "; ".join(str(r.get("message", "")) for r in reasons) or None
    action = classify_code(code, per_record=True)
    return WriteResult(
        key=key,
        ok=action is MktAction.ACCEPT,
        remote_id=remote_id,
        status=status,
        error_code=code,
        message=message,
        retriable=action in (MktAction.RETRY, MktAction.REAUTH, MktAction.QUOTA),
    )


def parse_activity(activity: Mapping[str, Any]) -> list[LeadChange]:
    """The field changes of one Change Data Value activity (none for other activity types)."""
    type_id = activity.get("activityTypeId", CHANGE_DATA_VALUE)
    if int(type_id) != CHANGE_DATA_VALUE:
        return []
    attributes = {
        str(a["name"]): str(a.get("value"))
        for a in activity.get("attributes") or []
        if isinstance(a, Mapping) and "name" in a and a.get("value") is not None
    }
    return [
        LeadChange(
            activity_id=int(activity["id"]),
            lead_id=int(activity["leadId"]),
            activity_date=str(activity["activityDate"]),
            field=str(change["name"]),
            old_value=_text(change.get("oldValue")),
            new_value=_text(change.get("newValue")),
            source=attributes.get("Source"),
            reason=attributes.get("Reason"),
            attributes=attributes,
        )
        for change in activity.get("fields") or []
        if isinstance(change, Mapping) and "name" in change
    ]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _key(record: Mapping[str, Any], fields: Sequence[str]) -> str:
    return "|".join(str(record.get(field, "")) for field in fields)


def _api_name(name: str) -> str:
    if not _API_NAME.match(name):
        msg = f"not a Marketo API name: {name!r}"
        raise ValueError(msg)
    return name


def _batched(items: Sequence[str], size: int) -> Iterator[tuple[str, ...]]:
    it = iter(items)
    while chunk := tuple(islice(it, size)):
        yield chunk


def _check_batch(items: Sequence[Any]) -> None:
    if len(items) > MAX_BATCH:
        msg = f"Marketo takes at most {MAX_BATCH} records per call, got {len(items)}"
        raise ValueError(msg)
