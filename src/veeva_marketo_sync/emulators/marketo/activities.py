"""Activity endpoints: types, paging tokens, lead changes, activities, deleted leads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from veeva_marketo_sync.emulators.marketo import activity_log
from veeva_marketo_sync.emulators.marketo.activity_log import FeedFilter
from veeva_marketo_sync.emulators.marketo.clock import format_datetime
from veeva_marketo_sync.emulators.marketo.envelope import ok
from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError
from veeva_marketo_sync.emulators.marketo.fields import parse_datetime
from veeva_marketo_sync.emulators.marketo.params import (
    Params,
    batch_size,
    query_pairs,
    single,
    split_values,
)
from veeva_marketo_sync.emulators.marketo.state import EmulatorState

MAX_LEAD_IDS = 30
MAX_TYPE_IDS = 10


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _int_list(params: Params, name: str, maximum: int) -> frozenset[int]:
    values = split_values(params, name)
    if len(values) > maximum:
        raise MarketoApiError("1003", f"'{name}' accepts at most {maximum} values")
    try:
        return frozenset(int(v) for v in values)
    except ValueError as exc:
        raise MarketoApiError("1003", f"Invalid '{name}'") from exc


def _token(params: Params) -> str:
    token = single(params, "nextPageToken")
    if not token:
        raise MarketoApiError("701", "'nextPageToken' cannot be blank")
    return token


async def types(_request: Request) -> Response:
    """`GET /rest/v1/activities/types.json`."""
    return ok(activity_log.ACTIVITY_TYPES)


async def paging_token(request: Request) -> Response:
    """`GET /rest/v1/activities/pagingtoken.json?sinceDatetime=`."""
    since = single(query_pairs(request), "sinceDatetime")
    if not since:
        raise MarketoApiError("701", "'sinceDatetime' cannot be blank")
    try:
        moment = format_datetime(parse_datetime(since))
    except ValueError as exc:
        raise MarketoApiError("1003", f"Invalid sinceDatetime '{since}'") from exc
    token = activity_log.token_since(_state(request).store, moment)
    return ok(include_result=False, nextPageToken=token)


def _page(request: Request, feed: FeedFilter, *, lead_changes: bool) -> Response:
    state = _state(request)
    params = query_pairs(request)
    size = batch_size(params, state.limits.max_batch)
    page = activity_log.read_feed(
        state.store, _token(params), size, feed, lead_changes=lead_changes
    )
    return ok(page.rows, nextPageToken=page.next_page_token, moreResult=page.more_result)


async def lead_changes(request: Request) -> Response:
    """`GET /rest/v1/activities/leadchanges.json?nextPageToken=&fields=a,b[&leadIds=]`."""
    params = query_pairs(request)
    names = split_values(params, "fields")
    if not names:
        raise MarketoApiError("701", "'fields' cannot be blank")
    feed = FeedFilter(
        type_ids=frozenset({activity_log.NEW_LEAD, activity_log.CHANGE_DATA_VALUE}),
        lead_ids=_int_list(params, "leadIds", MAX_LEAD_IDS),
        change_fields=frozenset(names),
    )
    return _page(request, feed, lead_changes=True)


async def activities(request: Request) -> Response:
    """`GET /rest/v1/activities.json?nextPageToken=&activityTypeIds=[&leadIds=]`."""
    params = query_pairs(request)
    type_ids = _int_list(params, "activityTypeIds", MAX_TYPE_IDS)
    if not type_ids:
        raise MarketoApiError("701", "'activityTypeIds' cannot be blank")
    feed = FeedFilter(type_ids=type_ids, lead_ids=_int_list(params, "leadIds", MAX_LEAD_IDS))
    return _page(request, feed, lead_changes=False)


async def deleted_leads(request: Request) -> Response:
    """`GET /rest/v1/activities/deletedleads.json?nextPageToken=`."""
    feed = FeedFilter(type_ids=frozenset({activity_log.DELETE_LEAD}))
    return _page(request, feed, lead_changes=False)
