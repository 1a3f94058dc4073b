"""Marketo transport: token, rate budget, retries and the response envelope, for every call.

``MarketoHttp.request`` returns the envelope of a successful call or raises the project error
its action demands; the API methods in ``marketo`` only build requests and read results.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying

from veeva_marketo_sync.errors import FatalError, TransientError
from veeva_marketo_sync.settings import MarketoSettings

from .marketo_errors import MktAction, classify_code, classify_http, error_for
from .rate_budget import RateBudget
from .retry import RetryPolicy, log_before_sleep, retry_transient

_log = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN_SECONDS = 60.0
"""Fetch a new token when less than this is left, as Marketo's own client does."""


class _RedactSecretParams(logging.Filter):
    """httpx logs every request URL at INFO; the identity URL carries the client secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.copy_remove_param("client_secret")
                if isinstance(arg, httpx.URL) and "client_secret" in arg.params
                else arg
                for arg in record.args
            )
        return True


def _redact_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactSecretParams) for f in logger.filters):
        logger.addFilter(_RedactSecretParams())


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    context: str
    params: Mapping[str, Any] | None
    json: Any
    data: Mapping[str, Any] | None


class _Token:
    __slots__ = ("expires_at", "value")

    def __init__(self, value: str, expires_at: float) -> None:
        self.value = value
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return f"<Marketo token, expires_at={self.expires_at:.0f}>"


class MarketoHttp:
    """One Marketo instance over HTTP: bearer token, budget, bounded retries, error mapping."""

    def __init__(
        self,
        settings: MarketoSettings,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        budget: RateBudget | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _redact_httpx_logs()
        self._base_url = str(settings.base_url).rstrip("/")
        self._client_id = settings.client_id
        self._secret = settings.client_secret
        self._owns_client = client is None
        self._http = client or httpx.AsyncClient(
            transport=transport,
            timeout=settings.timeout_seconds,
            verify=str(settings.ca_bundle) if settings.ca_bundle else True,
        )
        self._timeout = settings.timeout_seconds
        self.budget = budget or RateBudget.from_settings(settings)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self.calls_made = 0

    def __repr__(self) -> str:
        return f"MarketoHttp(base_url={self._base_url!r}, client_id={self._client_id!r})"

    @property
    def base_url(self) -> str:
        """The instance's base URL, without a trailing slash."""
        return self._base_url

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        context: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One API call with retries; returns the envelope of a successful answer.

        Raises:
            TransientError: still failing after the retry policy's attempts.
            QuotaExhaustedError: daily quota spent (607 or the local allowance); not retried.
            RecordRejectedError: the whole call was refused for a record-level reason.
            FatalError: permissions, features or the request are wrong.
        """
        call = _Call(method, path, context, params, json, data)
        retrying = AsyncRetrying(
            stop=self._retry.stop(),
            wait=self._retry.wait(),
            retry=retry_transient(),
            sleep=self._sleep,
            reraise=True,
            before_sleep=log_before_sleep(_log, f"Marketo {context}"),
        )
        return await retrying(self._authorised, call)

    async def _authorised(self, call: _Call) -> dict[str, Any]:
        token = await self._current_token()
        body = await self._send(call, token)
        code, message = _envelope_error(body)
        if code is not None and classify_code(code) is MktAction.REAUTH:
            _log.info(
                "Marketo refused the token (%s) during %s; getting a new one", code, call.context
            )
            token = await self._current_token(replacing=token)
            body = await self._send(call, token)
            code, message = _envelope_error(body)
            if code is not None and classify_code(code) is MktAction.REAUTH:
                message = f"{message} (with a fresh token)"
                raise error_for(MktAction.FATAL, code, message, context=call.context)
        if code is None:
            return body
        action = classify_code(code)
        resets = self.budget.pause_until_reset() if action is MktAction.QUOTA else None
        raise error_for(action, code, message, context=call.context, resets_in_seconds=resets)

    async def _send(self, call: _Call, token: _Token) -> dict[str, Any]:
        async with self.budget.call():
            self.calls_made += 1
            try:
                response = await self._http.request(
                    call.method,
                    self._base_url + call.path,
                    params=call.params,
                    json=call.json,
                    data=call.data,
                    headers={"Authorization": f"Bearer {token.value}"},
                )
            except httpx.TimeoutException:
                msg = f"Marketo did not answer {call.context} within {self._timeout}s"
                raise TransientError(msg) from None
            except httpx.TransportError as exc:
                msg = f"Marketo unreachable during {call.context}: {type(exc).__name__}"
                raise TransientError(msg) from None
        return _envelope(response, call.context)

    async def _current_token(self, *, replacing: _Token | None = None) -> _Token:
        async with self._token_lock:
            token = self._token
            if token is not None:
                fresh_enough = token.expires_at - self._clock() >= TOKEN_REFRESH_MARGIN_SECONDS
                if replacing is None and fresh_enough:
                    return token
                if replacing is not None and token is not replacing:
                    return token  # another task replaced it meanwhile
            self._token = await self._fetch_token()
            return self._token

    async def _fetch_token(self) -> _Token:
        started = self._clock()
        try:
            response = await self._http.get(
                f"{self._base_url}/identity/oauth/token",
                params={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._secret.get_secret_value(),
                },
            )
        except httpx.TimeoutException:
            msg = f"Marketo identity did not answer within {self._timeout}s"
            raise TransientError(msg) from None
        except httpx.TransportError as exc:
            raise TransientError(f"Marketo identity unreachable: {type(exc).__name__}") from None
        body = _json_or_none(response)
        if response.status_code >= 500:
            raise TransientError(f"Marketo identity answered HTTP {response.status_code}")
        if response.status_code >= 400 or body is None or "access_token" not in body:
            detail = (body or {}).get("error_description") or f"HTTP {response.status_code}"
            msg = f"Marketo identity refused client id {self._client_id!r}: {detail}"
            raise FatalError(msg, hint="check marketo.client_id and marketo.client_secret")
        expires_in = float(body.get("expires_in", 0))
        _log.debug("Marketo token issued, expires in %.0fs", expires_in)
        return _Token(str(body["access_token"]), started + expires_in)


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _envelope(response: httpx.Response, context: str) -> dict[str, Any]:
    action = classify_http(response.status_code)
    if action is not None:
        code = f"HTTP {response.status_code}"
        raise error_for(action, code, response.reason_phrase, context=context)
    body = _json_or_none(response)
    if body is None:
        raise TransientError(f"Marketo answered {context} with a body that is not a JSON object")
    return body


def _envelope_error(body: Mapping[str, Any]) -> tuple[str | None, str]:
    if body.get("success") is True:
        return None, ""
    errors = body.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    return str(first.get("code", "unknown")), str(first.get("message", "call failed"))
