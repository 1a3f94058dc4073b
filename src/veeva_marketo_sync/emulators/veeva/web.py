"""Request plumbing shared by the REST, auth, bulk and admin routes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veeva_marketo_sync.emulators.veeva.errors import ApiError
from veeva_marketo_sync.emulators.veeva.faults import FaultBook
from veeva_marketo_sync.emulators.veeva.store import Store

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})


@dataclass
class Emulator:
    """Everything a handler may touch."""

    store: Store
    faults: FaultBook = field(default_factory=FaultBook)


@dataclass
class Call:
    """One request, read up front so handlers can run in a worker thread."""

    request: Request
    emulator: Emulator
    body: bytes
    user_id: str = ""

    @property
    def store(self) -> Store:
        """The org state."""
        return self.emulator.store

    @property
    def params(self) -> dict[str, str]:
        """Path parameters."""
        return dict(self.request.path_params)

    @property
    def query(self) -> dict[str, str]:
        """Query-string parameters (last value wins)."""
        return dict(self.request.query_params)

    @property
    def version(self) -> str:
        """The API version of the URL (``59.0``)."""
        return str(self.request.path_params.get("version", "59.0"))

    def json(self) -> Any:
        """The JSON body; raise ``JSON_PARSER_ERROR`` when it is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from exc

    def json_object(self) -> dict[str, Any]:
        """The JSON body, which must be an object."""
        data = self.json()
        if not isinstance(data, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object body")
        return data


Handler = Callable[[Call], Response]


def error_response(err: ApiError) -> JSONResponse:
    """The JSON array body of an API error."""
    return JSONResponse(err.body(), status_code=err.status)


def _unexpected() -> JSONResponse:
    return JSONResponse(
        [
            {
                "message": "An unexpected error occurred. Please include this ErrorId if you "
                "contact support: 0-emulator",
                "errorCode": "UNKNOWN_EXCEPTION",
            }
        ],
        status_code=500,
    )


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token:
        return token.strip()
    return ""


async def _prelude(request: Request, emulator: Emulator, name: str) -> Response | None:
    emulator.store.call_counts[f"{request.method} {name}"] += 1
    delay = emulator.faults.delay(request.url.path)
    if delay > 0:
        await asyncio.sleep(delay)
    fault = emulator.faults.take(request.method, request.url.path)
    if fault is not None:
        return error_response(ApiError(fault.status, fault.error_code, fault.message))
    return None


def limit_header(store: Store) -> dict[str, str]:
    """The ``Sforce-Limit-Info`` header."""
    return {"Sforce-Limit-Info": f"api-usage={store.api_used}/{store.api_limit}"}


def api_route(
    path: str,
    handler: Handler,
    methods: list[str],
    emulator: Emulator,
    name: str,
    *,
    auth: bool = True,
    slash_variant: bool = True,
) -> list[Route]:
    """Routes for an authenticated, metered REST endpoint (with and without trailing slash)."""

    async def endpoint(request: Request) -> Response:
        early = await _prelude(request, emulator, name)
        store = emulator.store
        if early is not None:
            early.headers.update(limit_header(store))
            return early
        user_id = ""
        if auth:
            user = await run_in_threadpool(store.session_user, _bearer(request))
            if user is None:
                return error_response(
                    ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
                )
            user_id = user
            store.count_api_call()
            if store.api_used > store.api_limit:
                response: Response = error_response(
                    ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
                )
                response.headers.update(limit_header(store))
                return response
        call = Call(request, emulator, await request.body(), user_id)
        try:
            response = await run_in_threadpool(handler, call)
        except ApiError as err:
            response = error_response(err)
        except Exception:
            log.exception("emulator handler %s failed", name)
            response = _unexpected()
        if auth:
            response.headers.update(limit_header(store))
        return response

    paths = [path]
    if slash_variant:
        paths.append(path.rstrip("/") + "/" if not path.endswith("/") else path.rstrip("/"))
    return [Route(p, endpoint, methods=methods, name=f"{name}:{p}") for p in paths]


def plain_route(
    path: str,
    handler: Handler,
    methods: list[str],
    emulator: Emulator,
    name: str,
    *,
    loopback_only: bool = False,
) -> Route:
    """A route without session checks (login, admin); faults and latency still apply."""

    async def endpoint(request: Request) -> Response:
        if loopback_only:
            host = request.client.host if request.client else ""
            if host not in LOOPBACK_HOSTS:
                return JSONResponse({"error": "admin API is loopback-only"}, status_code=403)
        else:
            early = await _prelude(request, emulator, name)
            if early is not None:
                return early
        call = Call(request, emulator, await request.body())
        try:
            return await run_in_threadpool(handler, call)
        except ApiError as err:
            return error_response(err)
        except Exception:
            log.exception("emulator handler %s failed", name)
            return _unexpected()

    return Route(path, endpoint, methods=methods, name=name)
