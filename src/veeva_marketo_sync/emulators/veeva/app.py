"""The Starlette application of the Veeva CRM emulator and its uvicorn runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from veeva_marketo_sync.emulators.tls import ensure_self_signed_cert
from veeva_marketo_sync.emulators.veeva import admin, auth, bulk2, rest
from veeva_marketo_sync.emulators.veeva.store import Store
from veeva_marketo_sync.emulators.veeva.web import Emulator, api_route, plain_route

_V = "/services/data/v{version}"


def _routes(emu: Emulator) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        plain_route("/services/Soap/u/{version}", auth.soap_login, ["POST"], emu, "soap_login"),
        plain_route("/services/oauth2/token", auth.oauth_token, ["POST"], emu, "oauth_token"),
    ]
    for path, handler, methods, auth_needed in (
        ("/services/data", rest.versions, ["GET"], False),
        (f"{_V}", rest.resources, ["GET"], True),
        (f"{_V}/limits", rest.limits, ["GET"], True),
        (f"{_V}/query", rest.query, ["GET"], True),
        (f"{_V}/query/{{locator}}", rest.query, ["GET"], True),
        (f"{_V}/queryAll", rest.query_all, ["GET"], True),
        (f"{_V}/queryAll/{{locator}}", rest.query, ["GET"], True),
        (f"{_V}/sobjects", rest.sobjects, ["GET"], True),
        (f"{_V}/sobjects/{{sobject}}/describe", rest.describe, ["GET"], True),
        (f"{_V}/sobjects/{{sobject}}/updated", rest.updated, ["GET"], True),
        (f"{_V}/sobjects/{{sobject}}/deleted", rest.deleted, ["GET"], True),
        (f"{_V}/sobjects/{{sobject}}", rest.sobject_root, ["GET", "POST"], True),
        (
            f"{_V}/sobjects/{{sobject}}/{{record_id}}",
            rest.sobject_record,
            ["GET", "PATCH", "DELETE"],
            True,
        ),
        (f"{_V}/composite/sobjects", rest.collections, ["POST", "PATCH", "DELETE"], True),
        (f"{_V}/jobs/query", bulk2.create_job, ["POST"], True),
        (f"{_V}/jobs/query/{{job_id}}", bulk2.job, ["GET", "PATCH", "DELETE"], True),
        (f"{_V}/jobs/query/{{job_id}}/results", bulk2.results, ["GET"], True),
    ):
        name = handler.__name__
        routes.extend(api_route(path, handler, methods, emu, name, auth=auth_needed))
    routes.extend(
        api_route(
            f"{_V}/{{rest:path}}",
            rest.not_found_route,
            ["GET", "POST", "PATCH", "PUT", "DELETE"],
            emu,
            "not_found",
            slash_variant=False,
        )
    )
    for path, handler, methods in (
        ("/__admin/health", admin.health, ["GET"]),
        ("/__admin/info", admin.info, ["GET"]),
        ("/__admin/seed", admin.seed_data, ["POST"]),
        ("/__admin/records/{sobject}", admin.records, ["GET", "POST"]),
        ("/__admin/records/{sobject}/{record_id}", admin.record, ["GET", "PATCH", "DELETE"]),
        ("/__admin/records/{sobject}/{record_id}/undelete", admin.undelete, ["POST"]),
        ("/__admin/counters", admin.counters, ["GET", "DELETE"]),
        ("/__admin/faults", admin.faults, ["GET", "POST", "DELETE"]),
        ("/__admin/latency", admin.latency, ["POST"]),
        ("/__admin/sessions/expire", admin.sessions, ["POST"]),
        ("/__admin/sessions", admin.sessions, ["PUT"]),
        ("/__admin/hidden-fields", admin.hidden_fields, ["GET"]),
        ("/__admin/hidden-fields/{sobject}", admin.hidden_fields, ["GET", "PUT"]),
        ("/__admin/validation-rules", admin.validation_rules, ["GET", "POST", "DELETE"]),
        ("/__admin/api-limit", admin.api_limit, ["PUT"]),
        ("/__admin/credentials", admin.credentials, ["PUT"]),
        ("/__admin/oauth-clients", admin.oauth_clients, ["PUT"]),
    ):
        routes.append(
            plain_route(
                path, handler, methods, emu, f"admin_{handler.__name__}", loopback_only=True
            )
        )
    return routes


def create_app(state_dir: Path, *, session_lifetime: float = 7200.0) -> Starlette:
    """Build the emulator app over the SQLite state in ``state_dir``.

    Args:
        state_dir: Directory holding ``veeva.sqlite3`` (created when missing).
        session_lifetime: Seconds a session token stays valid.

    Returns:
        The Starlette app; ``app.state.emulator`` exposes the store and fault book.
    """
    store = Store(state_dir, session_lifetime=session_lifetime)
    emu = Emulator(store)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = Starlette(routes=_routes(emu), lifespan=lifespan)
    app.router.redirect_slashes = False
    app.state.emulator = emu
    return app


def serve(
    host: str, port: int, state_dir: Path, tls: bool = True, *, session_lifetime: float = 7200.0
) -> None:
    """Run the emulator with uvicorn until interrupted (HTTPS with a self-signed cert).

    Args:
        host: Interface to bind (use 127.0.0.1).
        port: TCP port.
        state_dir: Directory holding the SQLite state and the certificate.
        tls: Serve HTTPS (simple-salesforce only speaks https); trust ``state_dir/tls-cert.pem``.
        session_lifetime: Seconds a session token stays valid.
    """
    app = create_app(state_dir, session_lifetime=session_lifetime)
    ssl_options: dict[str, str] = {}
    if tls:
        paths = ensure_self_signed_cert(state_dir)
        ssl_options = {"ssl_certfile": str(paths.cert_file), "ssl_keyfile": str(paths.key_file)}
    uvicorn.run(app, host=host, port=port, log_level="warning", **ssl_options)  # type: ignore[arg-type]
