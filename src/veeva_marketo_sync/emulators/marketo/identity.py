"""Identity service: client-credentials tokens, reused until they expire."""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from veeva_marketo_sync.emulators.marketo.state import EmulatorState


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


async def token(request: Request) -> Response:
    """`GET|POST /identity/oauth/token?grant_type=client_credentials&client_id=&client_secret=`."""
    state: EmulatorState = request.app.state.emulator
    params = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        params.update(dict(parse_qsl(body.decode("utf-8", errors="replace"))))
    if params.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Unsupported grant type")
    client_id = params.get("client_id", "")
    secret = params.get("client_secret", "")
    known = state.store.credentials(client_id)
    if known is None:
        return _oauth_error(401, "invalid_client", "No client with requested id")
    if known[0] != secret:
        return _oauth_error(401, "unauthorized", "Bad client credentials")
    now = state.clock.timestamp()
    live = state.store.live_token(client_id, now)
    if live is None:
        expires_at = now + state.limits.token_lifetime_seconds
        live = (state.store.issue_token(client_id, expires_at), expires_at)
    expires_in = max(0, math.ceil(live[1] - now) - 1)
    return JSONResponse(
        {
            "access_token": live[0],
            "token_type": "bearer",
            "expires_in": expires_in,
            "scope": known[1],
        }
    )
