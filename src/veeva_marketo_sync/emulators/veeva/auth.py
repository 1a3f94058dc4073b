"""SOAP partner ``login`` and the OAuth 2.0 token endpoint."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from urllib.parse import parse_qs
from xml.sax.saxutils import escape, unescape

from starlette.responses import JSONResponse, Response

from veeva_marketo_sync.emulators.veeva.store import ORG_ID
from veeva_marketo_sync.emulators.veeva.web import Call

_SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def _element(xml: str, name: str) -> str | None:
    match = re.search(rf"<(?:\w+:)?{name}(?:\s[^>]*)?>(.*?)</(?:\w+:)?{name}>", xml, re.DOTALL)
    return None if match is None else unescape(match.group(1), {"&quot;": '"', "&apos;": "'"})


def _soap_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_SOAP_NS}" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status_code=500, media_type="text/xml")


def _base_url(call: Call) -> str:
    return f"https://{call.request.headers.get('host', '127.0.0.1')}"


def soap_login(call: Call) -> Response:
    """``POST /services/Soap/u/{version}``: partner ``login`` (password = password + token)."""
    xml = call.body.decode("utf-8", errors="replace")
    username = _element(xml, "username")
    password = _element(xml, "password")
    if username is None or password is None:
        return _soap_fault(
            "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
        )
    user_id = call.store.check_password(username, password)
    if user_id is None:
        return _soap_fault(
            "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
        )
    token = call.store.new_session(user_id)
    version = call.version
    base = _base_url(call)
    lifetime = int(call.store.session_lifetime)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_SOAP_NS}" xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{base}/services/Soap/m/{version}/{ORG_ID[:15]}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
        f"<serverUrl>{base}/services/Soap/u/{version}/{ORG_ID[:15]}</serverUrl>"
        f"<sessionId>{token}</sessionId><userId>{user_id}</userId>"
        "<userInfo>"
        f"<organizationId>{ORG_ID}</organizationId><organizationName>Veeva Emulator"
        f"</organizationName><sessionSecondsValid>{lifetime}</sessionSecondsValid>"
        f"<userEmail>{escape(username)}</userEmail><userFullName>{escape(username)}"
        f"</userFullName><userId>{user_id}</userId><userName>{escape(username)}</userName>"
        "<userTimeZone>America/New_York</userTimeZone>"
        "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status_code=200, media_type="text/xml")


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _basic_credentials(call: Call) -> tuple[str, str] | None:
    header = call.request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded).decode()
    except ValueError:
        return None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def oauth_token(call: Call) -> Response:
    """``POST /services/oauth2/token``: ``password`` and ``client_credentials`` grants."""
    form = {k: v[-1] for k, v in parse_qs(call.body.decode(errors="replace")).items()}
    grant = form.get("grant_type", "")
    client = _basic_credentials(call) or (form.get("client_id", ""), form.get("client_secret", ""))
    run_as = call.store.check_client(*client)
    if grant == "password":
        if run_as is None:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        user_id = call.store.check_password(form.get("username", ""), form.get("password", ""))
        if user_id is None:
            return _oauth_error("invalid_grant", "authentication failure")
    elif grant == "client_credentials":
        if run_as is None:
            return _oauth_error("invalid_client", "invalid client credentials")
        user_id = run_as
    else:
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    token = call.store.new_session(user_id)
    base = _base_url(call)
    issued = str(int(time.time() * 1000))
    signature = base64.b64encode(hashlib.sha256((token + issued).encode()).digest()).decode()
    return JSONResponse(
        {
            "access_token": token,
            "instance_url": base,
            "id": f"{base}/id/{ORG_ID}/{user_id}",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": signature,
            "scope": "api",
        }
    )
