"""ASGI middleware in front of every API call: auth, faults, limits, counters, crash guard."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from veeva_marketo_sync.emulators.marketo.envelope import failure
from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError
from veeva_marketo_sync.emulators.marketo.limits import Fault
from veeva_marketo_sync.emulators.marketo.state import EmulatorState

_log = logging.getLogger(__name__)
_API_PREFIXES = ("/rest/", "/bulk/")
_IDENTITY_PREFIX = "/identity/"
_ADMIN_PREFIX = "/__admin"
_NUMBER_SEGMENT = re.compile(r"/\d+(?=[./]|$)")


def endpoint_key(method: str, path: str) -> str:
    """Return the counter key of a call, with numeric ids folded (`GET /rest/v1/lead/{id}.json`)."""
    return f"{method} {_NUMBER_SEGMENT.sub('/{id}', path)}"


def _is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return True  # in-process test transports have no peer address
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return client[0] in {"localhost", "testclient"}


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = value.decode("latin-1").strip()
            if text.lower().startswith("bearer "):
                return text[7:].strip() or None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("access_token")
    return tokens[-1] if tokens else None


def _content_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _authenticate(state: EmulatorState, scope: Scope) -> None:
    token = _bearer(scope)
    if token is None:
        raise MarketoApiError("600")
    expires_at = state.store.token_expiry(token)
    if expires_at is None:
        raise MarketoApiError("601")
    if expires_at <= state.clock.timestamp():
        raise MarketoApiError("602")


class Gate:
    """Applies Marketo's instance-wide rules before a call reaches its handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one ASGI call through the checks."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        state: EmulatorState = scope["app"].state.emulator
        if path.startswith(_ADMIN_PREFIX):
            if not _is_loopback(scope):
                await failure(MarketoApiError("603", "Admin API is loopback-only", 403))(
                    scope, receive, send
                )
                return
            await self._guarded(scope, receive, send)
            return
        try:
            slot = await self._admit(state, scope, path)
        except MarketoApiError as error:
            state.store.bump("rejected", error.code)
            await failure(error)(scope, receive, send)
            return
        try:
            await self._guarded(scope, receive, send)
        finally:
            if slot:
                state.in_flight -= 1

    async def _admit(self, state: EmulatorState, scope: Scope, path: str) -> bool:
        """Run the checks; return whether a concurrency slot was taken."""
        limits = state.limits
        method: str = scope["method"]
        uri_length = len(path) + len(scope.get("query_string", b"")) + 1
        if uri_length > limits.max_uri_bytes:
            raise MarketoApiError("414", http_status=414)
        if _content_length(scope) > limits.max_body_bytes:
            raise MarketoApiError("413", http_status=413)
        fault = state.faults.take(method, path)
        if fault is not None and (fault.code is not None or fault.http_status != 200):
            await asyncio.sleep(fault.hang_seconds)
            raise MarketoApiError(fault.code or "611", fault.message, fault.http_status)
        key = endpoint_key(method, path)
        if path.startswith(_IDENTITY_PREFIX) or not path.startswith(_API_PREFIXES):
            state.store.bump("calls", key)
            await self._hang(fault)
            return False
        _authenticate(state, scope)
        if state.store.counter("daily", state.quota_key()) >= limits.daily_quota:
            raise MarketoApiError("607", f"Max daily quota '{limits.daily_quota}' reached")
        if state.in_flight >= limits.max_concurrency:
            raise MarketoApiError(
                "615", f"Concurrent access limit '{limits.max_concurrency}' reached"
            )
        if not state.rate.try_acquire(limits.rate_calls, limits.rate_window_seconds):
            raise MarketoApiError(
                "606",
                f"Max rate limit '{limits.rate_calls}' exceeded with in "
                f"'{limits.rate_window_seconds:g}' secs",
            )
        state.in_flight += 1
        state.store.bump("calls", key)
        state.store.bump("daily", state.quota_key())
        try:
            await self._hang(fault)
        except BaseException:
            state.in_flight -= 1
            raise
        return True

    @staticmethod
    async def _hang(fault: Fault | None) -> None:
        if fault is not None and fault.hang_seconds:
            await asyncio.sleep(fault.hang_seconds)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; an unexpected exception becomes a 611 envelope, never a stack trace."""
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            _log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await failure(MarketoApiError("611", "System error"))(scope, receive, send)
