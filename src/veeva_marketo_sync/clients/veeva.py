"""Veeva CRM (Salesforce) client (sync): describe, SOQL paging, Bulk API 2.0, batch updates.

Implements ``ports.VeevaApi`` on simple-salesforce in direct-session mode: we log in at the
configured login URL (``veeva_login``), and log in again ourselves when the session expires.
"""

from __future__ import annotations

import logging
import re
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.util import exception_handler
from tenacity import Retrying

from veeva_marketo_sync.errors import FatalError, TransientError
from veeva_marketo_sync.settings import VeevaSettings

from .ports import SfDescribe, SfRecord, WriteResult
from .retry import RetryPolicy, log_before_sleep, retry_transient
from .veeva_errors import SfAction, classify, first_error, translate
from .veeva_login import SfSession, login
from .veeva_records import flatten, parse_bulk_csv, sobject_of, to_describe

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_API_USAGE = re.compile(r"(?:^|[;\s])api-usage=(\d+)/(\d+)")
_LEADING_FROM = re.compile(r"^\s*FROM\s+", re.IGNORECASE)

MAX_COLLECTION = 200
"""sObject Collections take at most 200 records per call."""
_LOW_API_SHARE = 0.1
"""Warn once when the org's rolling API allocation falls below this share."""
_BULK_POLL_FIRST_SECONDS = 0.5
_BULK_POLL_MAX_SECONDS = 10.0


@dataclass(frozen=True)
class ApiUsage:
    """The org's API usage from the last ``Sforce-Limit-Info`` header (``api-usage=N/M``)."""

    used: int
    limit: int

    @property
    def remaining(self) -> int:
        """Calls left in the org's rolling 24-hour allocation."""
        return max(self.limit - self.used, 0)


class VeevaClient:
    """Veeva CRM over the Salesforce REST and Bulk 2.0 APIs; see ``ports.VeevaApi``.

    Pass ``session`` to take over the network (a ``requests.Session`` with a mounted adapter,
    a proxy, a CA bundle); the client adds a response hook to it that counts API calls.
    """

    def __init__(
        self,
        settings: VeevaSettings,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        bulk_timeout_seconds: float = 6 * 3600.0,
    ) -> None:
        self._settings = settings
        self._http = session or requests.Session()
        if settings.ca_bundle is not None:
            self._http.verify = str(settings.ca_bundle)
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify; a CA
            # bundle set in our config must win, so take only the proxies from the environment.
            self._http.trust_env = False
            self._http.proxies.update(urllib.request.getproxies())
        elif session is None:
            self._http.verify = True
        self._http.hooks["response"].append(self._on_response)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._bulk_timeout = bulk_timeout_seconds
        self._timeout = settings.timeout_seconds
        self._session: SfSession | None = None
        self._sf: Salesforce | None = None
        self._calls = 0
        self._api_usage: ApiUsage | None = None

    def __repr__(self) -> str:
        who = self._settings.username or self._settings.client_id
        return f"VeevaClient(login_url={str(self._settings.login_url)!r}, user={who!r})"

    @property
    def user_id(self) -> str:
        """Id of the integration user (logs in first if needed)."""
        self._connection()
        return self._session.user_id if self._session else ""

    @property
    def org_id(self) -> str:
        """Id of the org (logs in first if needed)."""
        self._connection()
        return self._session.org_id if self._session else ""

    @property
    def calls_made(self) -> int:
        """REST and Bulk API calls made so far (logins excluded: they are not API calls)."""
        return self._calls

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's API usage as of the last answer, or None before the first call."""
        return self._api_usage

    def describe(self, object_name: str) -> SfDescribe:
        """Describe ``object_name`` as the integration user sees it."""
        raw = self._call(
            f"describe of {object_name}",
            lambda sf: _restful(sf, f"sobjects/{object_name}/describe", timeout=self._timeout),
        )
        return to_describe(raw)

    def count(self, soql_from_where: str) -> int:
        """``SELECT COUNT() FROM …`` (pass the part after ``FROM``, with or without it)."""
        soql = "SELECT COUNT() FROM " + _LEADING_FROM.sub("", soql_from_where)
        result = self._call(f"query {soql}", lambda sf: sf.query(soql, timeout=self._timeout))
        return int(result["totalSize"])

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterator[list[SfRecord]]:
        """Run a SOQL query (queryAll when ``include_deleted``), yielding non-empty pages."""
        if not 200 <= batch_size <= 2000:
            msg = f"batch_size must be between 200 and 2000, got {batch_size}"
            raise ValueError(msg)
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        what = f"{'queryAll' if include_deleted else 'query'} {soql}"
        page = self._call(
            what,
            lambda sf: sf.query(
                soql, include_deleted=include_deleted, headers=headers, timeout=self._timeout
            ),
        )
        while True:
            records = [flatten(record) for record in page.get("records") or ()]
            if records:
                yield records
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return

            def more(sf: Salesforce, url: str = next_url) -> Any:
                return sf.query_more(
                    url, identifier_is_url=True, headers=headers, timeout=self._timeout
                )

            page = self._call(what, more)

    def bulk_query_pages(self, soql: str, *, max_records: int = 50_000) -> Iterator[list[SfRecord]]:
        """Run a Bulk API 2.0 query job; yield each result page typed by the object's describe."""
        if max_records < 1:
            msg = f"max_records must be positive, got {max_records}"
            raise ValueError(msg)
        types = {f.name: f.type for f in self.describe(sobject_of(soql)).fields}
        job = self._call(
            f"bulk query job for {soql}",
            lambda sf: _restful(
                sf,
                "jobs/query",
                method="POST",
                json={
                    "operation": "query",
                    "query": soql,
                    "contentType": "CSV",
                    "columnDelimiter": "COMMA",
                    "lineEnding": "LF",
                },
                timeout=self._timeout,
            ),
        )
        job_id = str(job["id"])
        self._wait_for_job(job_id, soql)
        locator = ""
        while True:

            def results(sf: Salesforce, loc: str = locator) -> requests.Response:
                return self._bulk_results(sf, job_id, max_records, loc)

            response = self._call(f"bulk query results of job {job_id}", results)
            records = parse_bulk_csv(response.text, types)
            if records:
                yield records
            locator = response.headers.get("Sforce-Locator", "")
            if not locator or locator == "null":
                return

    def update_records(self, object_name: str, records: Sequence[SfRecord]) -> list[WriteResult]:
        """PATCH records (each with ``Id``) via sObject Collections, allOrNone=false.

        Sends ``write_batch_size`` (≤ 200) records per call and returns one result per record,
        in order, with the record's error classified (``retriable`` for row locks).
        """
        ids = [str(record.get("Id") or "") for record in records]
        if not all(ids):
            msg = f"every {object_name} record to update needs an Id"
            raise ValueError(msg)
        size = min(self._settings.write_batch_size, MAX_COLLECTION)
        results: list[WriteResult] = []
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            body = {
                "allOrNone": False,
                "records": [{**record, "attributes": {"type": object_name}} for record in chunk],
            }

            def patch(sf: Salesforce, body: dict[str, Any] = body) -> Any:
                return _restful(
                    sf, "composite/sobjects", method="PATCH", json=body, timeout=self._timeout
                )

            answer = self._call(f"update of {len(chunk)} {object_name} records", patch)
            results.extend(_write_results(ids[start : start + size], answer, object_name))
        return results

    # plumbing

    def _connection(self) -> Salesforce:
        if self._sf is None:
            return self._log_in()
        return self._sf

    def _log_in(self) -> Salesforce:
        self._session = login(self._settings, self._http)
        self._sf = Salesforce(
            session_id=self._session.session_id,
            instance_url=self._session.instance_url,
            session=self._http,
            version=self._settings.api_version,
        )
        return self._sf

    def _call(self, what: str, fn: Callable[[Salesforce], _T]) -> _T:
        retrying = Retrying(
            stop=self._retry.stop(),
            wait=self._retry.wait(),
            retry=retry_transient(),
            sleep=self._sleep,
            reraise=True,
            before_sleep=log_before_sleep(_log, f"Salesforce {what}"),
        )
        result: _T = retrying(self._call_once, what, fn)
        return result

    def _call_once(self, what: str, fn: Callable[[Salesforce], _T]) -> _T:
        try:
            return fn(self._connection())
        except SalesforceExpiredSession:
            _log.info("Salesforce session expired during %s; logging in again", what)
        except (SalesforceError, requests.RequestException) as exc:
            raise translate(exc, context=what) from None
        sf = self._log_in()
        try:
            return fn(sf)
        except SalesforceExpiredSession:
            msg = f"Salesforce refused a fresh session during {what}"
            raise FatalError(msg, hint="check the integration user's API access") from None
        except (SalesforceError, requests.RequestException) as exc:
            raise translate(exc, context=what) from None

    def _bulk_results(
        self, sf: Salesforce, job_id: str, max_records: int, locator: str
    ) -> requests.Response:
        # CSV, not JSON: simple-salesforce's restful() would try to parse it.
        params: dict[str, Any] = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        response = self._http.get(
            f"{sf.base_url}jobs/query/{job_id}/results",
            params=params,
            headers={**sf.headers, "Accept": "text/csv"},
            timeout=self._timeout,
        )
        if response.status_code >= 300:
            exception_handler(response, name="bulk query results")
        return response

    def _wait_for_job(self, job_id: str, soql: str) -> None:
        delay, waited = _BULK_POLL_FIRST_SECONDS, 0.0
        while True:
            job = self._call(
                f"status of bulk query job {job_id}",
                lambda sf: _restful(sf, f"jobs/query/{job_id}", timeout=self._timeout),
            )
            state = str(job.get("state"))
            if state == "JobComplete":
                return
            if state in ("Failed", "Aborted"):
                reason = job.get("errorMessage") or "no reason given"
                msg = f"Bulk API query job {job_id} {state.lower()}: {reason} (query: {soql})"
                raise FatalError(msg)
            if waited >= self._bulk_timeout:
                msg = f"Bulk API query job {job_id} still {state} after {waited:.0f}s"
                raise TransientError(msg)
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, _BULK_POLL_MAX_SECONDS)

    def _on_response(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        if not urlsplit(response.url).path.startswith("/services/data/"):
            return
        self._calls += 1
        match = _API_USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            usage = ApiUsage(used=int(match[1]), limit=int(match[2]))
            low = usage.limit * _LOW_API_SHARE
            was_low = self._api_usage is not None and self._api_usage.remaining < low
            if usage.remaining < low and not was_low:
                _log.warning(
                    "Salesforce org has %d of %d API calls left", usage.remaining, usage.limit
                )
            self._api_usage = usage


def _restful(sf: Salesforce, path: str, **kwargs: Any) -> Any:
    """``sf.restful`` with an empty answer (204 No Content) as ``{}``."""
    answer = sf.restful(path, **kwargs)
    return {} if answer is None else answer


def _write_results(ids: Sequence[str], answer: Any, object_name: str) -> list[WriteResult]:
    rows = answer if isinstance(answer, list) else []
    if len(rows) != len(ids):
        msg = f"Salesforce answered {len(rows)} results for {len(ids)} {object_name} updates"
        raise FatalError(msg)
    results = []
    for record_id, row in zip(ids, rows, strict=True):
        if row.get("success"):
            results.append(WriteResult(key=record_id, ok=True, remote_id=row.get("id")))
            continue
        code, message = first_error(row.get("errors") or [{}])
        action = classify(code, per_record=True)
        results.append(
            WriteResult(
                key=record_id,
                ok=False,
                remote_id=row.get("id"),
                error_code=code,
                message=message,
                retriable=action in (SfAction.RETRY, SfAction.RELOGIN),
            )
        )
    return results
