"""The two change-event sources of one object: snapshot chunks and keyset pages of changes.

Both are generators over the `VeevaApi` port: they decide what to ask and in which order;
the coordinator publishes each page and checkpoints the position the page ends at.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from ..clients.ports import SfRecord, VeevaApi
from .soql import QueryScope, changes_query, snapshot_query
from .watermark import Watermark, record_position


@dataclass(frozen=True)
class SnapshotReader:
    """Reads an object in Id order, chunk by chunk, never holding more than one page.

    Attributes:
        chunk_size: Records per chunk query (`… ORDER BY Id LIMIT chunk_size`).
        use_bulk: Run each chunk as a Bulk API 2.0 job instead of a REST query.
        batch_size: REST page size (`Sforce-Query-Options: batchSize`).
        bulk_page_records: `maxRecords` per Bulk result page.
    """

    chunk_size: int
    use_bulk: bool = False
    batch_size: int = 2000
    bulk_page_records: int = 50_000

    def pages(
        self, api: VeevaApi, scope: QueryScope, after_id: str | None
    ) -> Generator[list[SfRecord], None, None]:
        """Yield non-empty pages after `after_id`; each page's last Id is the next cursor."""
        cursor = after_id
        while True:
            soql = snapshot_query(scope, after_id=cursor, limit=self.chunk_size)
            if self.use_bulk:
                chunk = api.bulk_query_pages(soql, max_records=self.bulk_page_records)
            else:
                chunk = api.query_pages(soql, batch_size=self.batch_size)
            read = 0
            for page in chunk:
                if not page:
                    continue
                read += len(page)
                cursor = str(page[-1]["Id"])
                yield page
            if read < self.chunk_size:
                return


@dataclass(frozen=True)
class ChangeReader:
    """Reads changes in `(SystemModstamp, Id)` keyset order, one `LIMIT page_size` query a page.

    Attributes:
        page_size: Records per query.
        include_deleted: Use queryAll, so deleted rows come back with `IsDeleted = true`.
    """

    page_size: int = 2000
    include_deleted: bool = True

    def pages(
        self, api: VeevaApi, scope: QueryScope, start: Watermark
    ) -> Generator[list[SfRecord], None, None]:
        """Yield pages from `start` on until a short page; each continues after the last."""
        position = start
        while True:
            soql = changes_query(scope, after=position, limit=self.page_size)
            page = [
                record
                for batch in api.query_pages(
                    soql,
                    include_deleted=self.include_deleted,
                    batch_size=min(max(self.page_size, 200), 2000),
                )
                for record in batch
            ]
            if page:
                position = record_position(page[-1])
                yield page
            if len(page) < self.page_size:
                return
