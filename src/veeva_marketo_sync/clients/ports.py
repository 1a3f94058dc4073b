"""The interfaces the sync needs from each outside system (ports), with their value types.

Producers, processors and writers depend on these protocols only; ``clients.veeva`` and
``clients.marketo`` implement them over HTTP, and tests may pass in-memory fakes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

SfRecord = dict[str, Any]
"""A Salesforce record as the REST API returns it (``attributes`` removed, relationship
fields flattened to dotted names such as ``RecordType.DeveloperName``)."""


@dataclass(frozen=True)
class SfField:
    """One field of a Salesforce describe result, as much as the sync needs of it."""

    name: str
    type: str
    length: int = 0
    updateable: bool = False
    nillable: bool = True
    picklist_values: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class SfDescribe:
    """The visible part of one object's describe: only fields the credentials may see."""

    name: str
    fields: tuple[SfField, ...]
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def field_names(self) -> frozenset[str]:
        """Names of every visible field."""
        return frozenset(f.name for f in self.fields)


@dataclass(frozen=True)
class WriteResult:
    """The outcome of writing one record to either side."""

    key: str
    """The record's key on our side (Veeva Id, or the lookup value sent to Marketo)."""
    ok: bool
    remote_id: str | None = None
    status: str | None = None
    """created / updated / skipped (Marketo), or None."""
    error_code: str | None = None
    message: str | None = None
    retriable: bool = False


class VeevaApi(Protocol):
    """What the sync needs from Veeva CRM (a Salesforce org)."""

    def describe(self, object_name: str) -> SfDescribe:
        """Describe ``object_name`` as the integration user sees it."""
        ...

    def count(self, soql_from_where: str) -> int:
        """``SELECT COUNT() FROM …``: how many rows a query would return."""
        ...

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterator[list[SfRecord]]:
        """Run a SOQL query (queryAll when ``include_deleted``), yielding one page at a time."""
        ...

    def bulk_query_pages(self, soql: str, *, max_records: int = 50_000) -> Iterator[list[SfRecord]]:
        """Run a Bulk API 2.0 query job, yielding one result page at a time (values typed)."""
        ...

    def update_records(self, object_name: str, records: Sequence[SfRecord]) -> list[WriteResult]:
        """PATCH up to 200 records (each with ``Id``) via sObject Collections, allOrNone=false."""
        ...

    @property
    def user_id(self) -> str:
        """Id of the integration user the client is logged in as."""
        ...

    @property
    def org_id(self) -> str:
        """Id of the org the client is logged in to."""
        ...

    @property
    def calls_made(self) -> int:
        """API calls this client made so far (for benchmarks and status)."""
        ...


@dataclass(frozen=True)
class LeadChange:
    """One Change Data Value activity (type 13) from Marketo's lead-changes feed."""

    activity_id: int
    lead_id: int
    activity_date: str
    """ISO 8601 UTC, as Marketo returns it."""
    field: str
    old_value: str | None
    new_value: str | None
    source: str | None
    reason: str | None
    attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class LeadChangesPage:
    """A page of lead changes and where to go on from."""

    changes: tuple[LeadChange, ...]
    next_page_token: str
    more_result: bool


MarketoAction = Literal["createOrUpdate", "createOnly", "updateOnly", "createDuplicate"]


class MarketoApi(Protocol):
    """What the sync needs from Marketo Engage. Every method is one API call or a paged few."""

    async def describe_leads(self) -> list[Mapping[str, Any]]:
        """Lead fields (describe2 shape: name, dataType, length, updateable)."""
        ...

    async def sync_leads(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        lookup_field: str,
        action: MarketoAction = "createOrUpdate",
    ) -> list[WriteResult]:
        """Create or update up to 300 leads in one call; one result per input, in order."""
        ...

    async def get_leads(
        self, filter_type: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[Mapping[str, Any]]:
        """Leads whose ``filter_type`` is one of ``values``."""
        ...

    async def delete_leads(self, lead_ids: Sequence[int]) -> list[WriteResult]:
        """Delete leads by Marketo id."""
        ...

    async def list_custom_objects(self) -> list[Mapping[str, Any]]:
        """Custom object types with their fields, dedupe fields and relationships."""
        ...

    async def sync_custom_objects(
        self, name: str, records: Sequence[Mapping[str, Any]], *, dedupe_by: str = "dedupeFields"
    ) -> list[WriteResult]:
        """Create or update up to 300 custom object records of type ``name``."""
        ...

    async def delete_custom_objects(
        self, name: str, keys: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """Delete custom object records by their dedupe fields."""
        ...

    async def paging_token(self, since_iso: str) -> str:
        """A paging token for activities since ``since_iso``."""
        ...

    async def lead_changes(
        self, page_token: str, fields: Sequence[str], *, batch_size: int = 300
    ) -> LeadChangesPage:
        """One page of Change Data Value activities for ``fields``."""
        ...

    @property
    def calls_made(self) -> int:
        """API calls this client made so far (for benchmarks and status)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
