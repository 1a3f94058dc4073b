"""A Salesforce org played through a ``requests`` transport adapter (no sockets)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

LOGIN_URL = "https://veeva-test.my.salesforce.com"
INSTANCE = "https://veeva-test.my.salesforce.com:8443"
USERNAME = "integration@veeva.example"
PASSWORD = "sf-Passw0rd!"
SECURITY_TOKEN = "TOKENabc123"
USER_ID = "005000000000001AAA"
ORG_ID = "00D000000000001EAA"
DATA = "/services/data/v59.0/"

SOAP_OK = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><loginResponse><result>
<metadataServerUrl>{instance}/services/Soap/m/59.0/{org}</metadataServerUrl>
<passwordExpired>false</passwordExpired><sandbox>true</sandbox>
<serverUrl>{instance}/services/Soap/u/59.0/{org}</serverUrl>
<sessionId>{session}</sessionId><userId>{user}</userId>
<userInfo><organizationId>{org}</organizationId><userName>{username}</userName></userInfo>
</result></loginResponse></soapenv:Body></soapenv:Envelope>"""

SOAP_FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:sf="urn:fault.partner.soap.sforce.com">
<soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode>
<faultstring>INVALID_LOGIN: Invalid username, password, security token.</faultstring>
<detail><sf:LoginFault><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>
<sf:exceptionMessage>Invalid username, password, security token.</sf:exceptionMessage>
</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"""

Reply = tuple[int, Any] | tuple[int, Any, Mapping[str, str]]
Route = Callable[[requests.PreparedRequest], Reply]


class FakeSalesforce(BaseAdapter):
    """Routes by (method, path regex); tracks sessions; adds ``Sforce-Limit-Info``."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[requests.PreparedRequest] = []
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []
        self.sessions: list[str] = []
        self.valid: set[str] = set()
        self.api_used = 100
        self.route("POST", r"/services/Soap/u/59\.0", self._soap_login)

    def route(self, method: str, path: str, reply: Route) -> None:
        self.routes.insert(0, (method, re.compile(path + "$"), reply))

    def expire_sessions(self) -> None:
        self.valid.clear()

    def api_requests(self) -> list[requests.PreparedRequest]:
        return [r for r in self.requests if urlsplit(r.url or "").path.startswith(DATA)]

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        self.requests.append(request)
        path = urlsplit(request.url or "").path
        reply = next(
            (r for m, pattern, r in self.routes if m == request.method and pattern.match(path)),
            None,
        )
        if reply is None:
            return self._response(request, 404, [{"errorCode": "NOT_FOUND", "message": path}])
        if path.startswith(DATA):
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if bearer not in self.valid:
                body = [
                    {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
                ]
                return self._response(request, 401, body)
            self.api_used += 1
        status, body, *headers = reply(request)
        return self._response(request, status, body, headers[0] if headers else {})

    def close(self) -> None:
        pass

    def _response(
        self,
        request: requests.PreparedRequest,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response.request = request
        response.url = request.url or ""
        response.encoding = "utf-8"
        content_type = "application/json"
        if isinstance(body, str):
            content = body.encode()
            content_type = "text/xml" if body.startswith("<?xml") else "text/csv"
        else:
            content = json.dumps(body).encode()
        response._content = content
        response.headers = CaseInsensitiveDict({
            "Content-Type": content_type,
            "Sforce-Limit-Info": f"api-usage={self.api_used}/15000",
            **(headers or {}),
        })  # fmt: skip
        return response

    def _soap_login(self, request: requests.PreparedRequest) -> Reply:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if f"<urn:password>{PASSWORD}{SECURITY_TOKEN}</urn:password>" not in body:
            return 500, SOAP_FAULT
        session = f"00D!SESSION{len(self.sessions) + 1}"
        self.sessions.append(session)
        self.valid.add(session)
        return 200, SOAP_OK.format(
            instance=INSTANCE, org=ORG_ID, session=session, user=USER_ID, username=USERNAME
        )


def query_param(request: requests.PreparedRequest, name: str) -> str:
    return parse_qs(urlsplit(request.url or "").query)[name][0]
