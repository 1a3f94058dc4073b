"""Assembly of the Marketo emulator: routes, gate, error mapping, and the uvicorn entry point."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veeva_marketo_sync.emulators.marketo import (
    activities,
    admin,
    custom_objects,
    identity,
    leads,
)
from veeva_marketo_sync.emulators.marketo.clock import Clock
from veeva_marketo_sync.emulators.marketo.envelope import failure
from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError
from veeva_marketo_sync.emulators.marketo.gate import Gate
from veeva_marketo_sync.emulators.marketo.state import EmulatorState
from veeva_marketo_sync.emulators.marketo.store import Store

DEFAULT_CLIENT_ID = "vmsync-client"
DEFAULT_CLIENT_SECRET = "vmsync-secret"  # noqa: S105 - a well-known emulator credential
DEFAULT_SCOPE = "apis@vmsync.example.com"
_log = logging.getLogger(__name__)


async def _api_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, MarketoApiError):
        raise exc
    return failure(exc)


async def _admin_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, admin.AdminError):
        raise exc
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        raise exc
    if exc.status_code == 405:
        return failure(MarketoApiError("605", f"Request method '{request.method}' not supported"))
    if exc.status_code == 404:
        return failure(MarketoApiError("610", http_status=404))
    return failure(MarketoApiError("611", str(exc.detail), exc.status_code))


def _routes() -> list[Route]:
    v1 = "/rest/v1"
    return [
        Route("/identity/oauth/token", identity.token, methods=["GET", "POST"]),
        Route(f"{v1}/leads/describe.json", leads.describe, methods=["GET"]),
        Route(f"{v1}/leads/describe2.json", leads.describe2, methods=["GET"]),
        Route(f"{v1}/lead/{{lead_id}}.json", leads.get_by_id, methods=["GET"]),
        Route(f"{v1}/leads.json", leads.get_by_filter, methods=["GET"]),
        Route(f"{v1}/leads.json", leads.post_leads, methods=["POST"]),
        Route(f"{v1}/leads.json", leads.delete, methods=["DELETE"]),
        Route(f"{v1}/leads/delete.json", leads.delete, methods=["POST"]),
        Route(f"{v1}/activities/types.json", activities.types, methods=["GET"]),
        Route(f"{v1}/activities/pagingtoken.json", activities.paging_token, methods=["GET"]),
        Route(f"{v1}/activities/leadchanges.json", activities.lead_changes, methods=["GET"]),
        Route(f"{v1}/activities/deletedleads.json", activities.deleted_leads, methods=["GET"]),
        Route(f"{v1}/activities.json", activities.activities, methods=["GET"]),
        Route(f"{v1}/customobjects.json", custom_objects.list_types, methods=["GET"]),
        Route(
            f"{v1}/customobjects/{{name}}/describe.json", custom_objects.describe, methods=["GET"]
        ),
        Route(
            f"{v1}/customobjects/{{name}}/delete.json",
            custom_objects.delete_records,
            methods=["POST"],
        ),
        Route(f"{v1}/customobjects/{{name}}.json", custom_objects.get_records, methods=["GET"]),
        Route(f"{v1}/customobjects/{{name}}.json", custom_objects.post_records, methods=["POST"]),
        *admin.routes(),
    ]


def create_app(
    state_dir: Path,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    scope: str = DEFAULT_SCOPE,
    limits: dict[str, Any] | None = None,
) -> Starlette:
    """Build the emulator app; its SQLite state lives in `state_dir` and survives restarts.

    Args:
        state_dir: Directory for the SQLite database (created if missing).
        client_id: A LaunchPoint client id registered at start-up.
        client_secret: Its secret.
        scope: The API user's email returned as `scope` by the identity service.
        limits: Threshold overrides applied (and persisted) at start-up, e.g.
            `{"rate_calls": 100, "rate_window_seconds": 20, "max_concurrency": 10,
            "daily_quota": 50000, "token_lifetime_seconds": 3600}`.

    Returns:
        The Starlette app; the database opens on lifespan start-up and closes on shutdown.
    """
    state_dir.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(state_dir)
        try:
            state = EmulatorState(store, Clock())
            store.set_credentials(client_id, client_secret, scope)
            if limits:
                state.update_limits(limits)
            app.state.emulator = state
            _log.info("Marketo emulator state in %s", state_dir)
            yield
        finally:
            store.close()

    return Starlette(
        routes=_routes(),
        middleware=[Middleware(Gate)],
        exception_handlers={
            MarketoApiError: _api_error,
            admin.AdminError: _admin_error,
            HTTPException: _http_error,
        },
        lifespan=lifespan,
    )


def serve(
    host: str,
    port: int,
    state_dir: Path,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
) -> None:
    """Run the emulator with uvicorn until interrupted (plain HTTP unless a cert is given)."""
    uvicorn.run(
        create_app(state_dir),
        host=host,
        port=port,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        log_level="info",
    )
