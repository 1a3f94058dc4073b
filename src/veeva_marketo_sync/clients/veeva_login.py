"""Log in to Veeva CRM (Salesforce) at the configured login URL: SOAP or OAuth 2.0.

simple-salesforce builds its login URLs from ``{domain}.salesforce.com``; we log in ourselves
so that ``veeva.login_url`` (My Domain, sandbox, emulator) is honoured, then hand it the session.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import requests

from veeva_marketo_sync.errors import FatalError, VmsyncError
from veeva_marketo_sync.settings import VeevaSettings

from .veeva_errors import SfAction, classify, error_for, translate

_log = logging.getLogger(__name__)

_SOAP_LOGIN = """<?xml version="1.0" encoding="utf-8"?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:urn="urn:partner.soap.sforce.com">
  <env:Header><urn:CallOptions><urn:client>veeva-marketo-sync</urn:client></urn:CallOptions>
  </env:Header>
  <env:Body><urn:login><urn:username>{username}</urn:username>
    <urn:password>{password}</urn:password></urn:login></env:Body>
</env:Envelope>"""


@dataclass(frozen=True)
class SfSession:
    """What a login yields: the session id (never shown), the instance, the user and the org."""

    session_id: str = field(repr=False)
    instance_url: str
    user_id: str
    org_id: str


def login(settings: VeevaSettings, http: requests.Session) -> SfSession:
    """Log in with OAuth 2.0 when a client id is configured, else with SOAP ``login()``.

    Raises:
        TransientError: the login server is unavailable or timed out.
        FatalError: the credentials or the org's settings refuse the login.
    """
    context = f"login as {settings.username or settings.client_id} at {settings.login_url}"
    try:
        if settings.client_id and settings.client_secret:
            secret = settings.client_secret.get_secret_value()
            return _oauth(settings, http, context, settings.client_id, secret)
        return _soap(settings, http, context)
    except requests.RequestException as exc:
        raise translate(exc, context=context) from None


def _base(settings: VeevaSettings) -> str:
    return str(settings.login_url).rstrip("/")


def _soap(settings: VeevaSettings, http: requests.Session, context: str) -> SfSession:
    if not (settings.username and settings.password):
        raise FatalError(f"{context}: SOAP login needs veeva.username and veeva.password")
    password = settings.password.get_secret_value() + settings.security_token.get_secret_value()
    body = _SOAP_LOGIN.format(username=escape(settings.username), password=escape(password))
    response = http.post(
        f"{_base(settings)}/services/Soap/u/{settings.api_version}",
        data=body.encode("utf-8"),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"},
        timeout=settings.timeout_seconds,
    )
    values = _xml_values(response.content)
    if response.status_code != 200 or "sessionId" not in values:
        code = values.get("exceptionCode") or values.get("faultcode", "").removeprefix("sf:")
        message = values.get("exceptionMessage") or values.get("faultstring", "")
        raise _login_error(code, message, response.status_code, context)
    server = urlsplit(values.get("serverUrl", ""))
    _log.info("Logged in to Salesforce (SOAP) as %s", settings.username)
    return SfSession(
        session_id=values["sessionId"],
        instance_url=f"{server.scheme}://{server.netloc}",
        user_id=values.get("userId", ""),
        org_id=values.get("organizationId", ""),
    )


def _oauth(
    settings: VeevaSettings, http: requests.Session, context: str, client_id: str, secret: str
) -> SfSession:
    if settings.username and settings.password:
        grant: dict[str, str] = {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": secret,
            "username": settings.username,
            "password": settings.password.get_secret_value()
            + settings.security_token.get_secret_value(),
        }
        auth: tuple[str, str] | None = None
    else:
        grant = {"grant_type": "client_credentials"}
        auth = (client_id, secret)
    response = http.post(
        f"{_base(settings)}/services/oauth2/token",
        data=grant,
        auth=auth,
        timeout=settings.timeout_seconds,
    )
    body = _json_object(response)
    if response.status_code != 200 or "access_token" not in body:
        code = str(body.get("error", "")).upper()
        raise _login_error(
            code, str(body.get("error_description", "")), response.status_code, context
        )
    # The identity URL ends in /id/<orgId>/<userId>.
    parts = str(body.get("id", "")).rstrip("/").split("/")
    _log.info("Logged in to Salesforce (OAuth %s grant)", grant["grant_type"])
    return SfSession(
        session_id=str(body["access_token"]),
        instance_url=str(body.get("instance_url", "")).rstrip("/"),
        user_id=parts[-1] if len(parts) >= 2 else "",
        org_id=parts[-2] if len(parts) >= 2 else "",
    )


def _login_error(code: str, message: str, status: int, context: str) -> VmsyncError:
    action = classify(code or None, status)
    if action is SfAction.RELOGIN:
        action = SfAction.FATAL
    return error_for(action, code or f"HTTP {status}", message or "login refused", context=context)


def _xml_values(content: bytes) -> dict[str, str]:
    """The text of every leaf element, by local name (first occurrence wins)."""
    try:
        # The login server is the operator's; expat refuses entity-expansion bombs and
        # ElementTree never fetches external entities.
        root = ET.fromstring(content)  # noqa: S314
    except ET.ParseError:
        return {}
    values: dict[str, str] = {}
    for element in root.iter():
        if len(element) == 0:
            values.setdefault(element.tag.rsplit("}", 1)[-1], (element.text or "").strip())
    return values


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
