"""Run the Veeva CRM emulator over HTTPS on a free loopback port, for contract tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from veeva_marketo_sync.emulators.tls import ensure_self_signed_cert
from veeva_marketo_sync.emulators.veeva import create_app, seed

USERNAME = "integration@veeva.example"
PASSWORD = "password"
TOKEN = "token"
CLIENT_ID = "vmsync-client"
CLIENT_SECRET = "vmsync-secret"
SEEDED_PERSON_ACCOUNTS = 5000
START_TIMEOUT = 10.0

SOAP_LOGIN_BODY = """<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
        xmlns:urn="urn:partner.soap.sforce.com">
    <env:Header><urn:CallOptions><urn:client>contract-test</urn:client>
        <urn:defaultNamespace>sf</urn:defaultNamespace></urn:CallOptions></env:Header>
    <env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com">
        <n1:username>{username}</n1:username><n1:password>{password}</n1:password>
    </n1:login></env:Body>
</env:Envelope>"""


class LoginRedirectAdapter(HTTPAdapter):
    """Send simple-salesforce's hard-coded ``https://login.salesforce.com`` to the emulator."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        assert request.url is not None
        request.url = request.url.replace("https://login.salesforce.com", self.target, 1)
        return super().send(request, *args, **kwargs)


@dataclass
class RunningVeeva:
    """A live emulator: where it listens, its CA file and helpers for admin and login."""

    base_url: str
    state_dir: Path
    cert_file: Path

    def session(self) -> requests.Session:
        """A requests session trusting the emulator's self-signed certificate."""
        http = requests.Session()
        # REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the environment would override session.verify.
        http.trust_env = False
        http.verify = str(self.cert_file)
        return http

    def admin(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """Call the admin API and return its JSON (None for 204)."""
        with self.session() as http:
            response = http.request(
                method,
                f"{self.base_url}/__admin/{path}",
                json=body,
                params=params or None,
                timeout=60,
            )
        response.raise_for_status()
        return None if response.status_code == 204 else response.json()

    def soap_login(self, http: requests.Session) -> str:
        """Log in through the SOAP partner endpoint; return the session id."""
        body = SOAP_LOGIN_BODY.format(username=USERNAME, password=PASSWORD + TOKEN)
        response = http.post(
            f"{self.base_url}/services/Soap/u/59.0",
            data=body,
            headers={"content-type": "text/xml", "charset": "UTF-8", "SOAPAction": "login"},
            timeout=30,
        )
        response.raise_for_status()
        start = response.text.index("<sessionId>") + len("<sessionId>")
        return response.text[start : response.text.index("</sessionId>")]

    def direct_client(self, http: requests.Session) -> Salesforce:
        """A simple-salesforce client on a session id (no automatic re-login)."""
        return Salesforce(
            session_id=self.soap_login(http), instance_url=self.base_url, session=http
        )

    def password_client(self, http: requests.Session) -> Salesforce:
        """A simple-salesforce client that logs in (and re-logs in) with username/password."""
        http.mount("https://login.salesforce.com", LoginRedirectAdapter(self.base_url))
        return Salesforce(username=USERNAME, password=PASSWORD, security_token=TOKEN, session=http)


def _serve(state_dir: Path) -> Iterator[RunningVeeva]:
    paths = ensure_self_signed_cert(state_dir)
    app = create_app(state_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        ssl_certfile=str(paths.cert_file),
        ssl_keyfile=str(paths.key_file),
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the Veeva emulator did not start")
        time.sleep(0.02)
    try:
        yield RunningVeeva(f"https://127.0.0.1:{port}", state_dir, paths.cert_file)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def veeva_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningVeeva]:
    """A seeded emulator (5,000 person accounts) shared by one test module."""
    state_dir = tmp_path_factory.mktemp("veeva")
    seed(state_dir, SEEDED_PERSON_ACCOUNTS, seed=7)
    yield from _serve(state_dir)


@pytest.fixture
def veeva_http(veeva_emulator: RunningVeeva) -> Iterator[requests.Session]:
    """A requests session trusting the emulator, closed after the test."""
    with veeva_emulator.session() as http:
        yield http


@pytest.fixture
def veeva_sf(veeva_emulator: RunningVeeva, veeva_http: requests.Session) -> Salesforce:
    """The real simple-salesforce client on a fresh SOAP session."""
    return veeva_emulator.direct_client(veeva_http)


@pytest.fixture
def veeva_clean(veeva_emulator: RunningVeeva) -> Iterator[RunningVeeva]:
    """The emulator with faults, hidden fields and validation rules cleared after the test."""
    yield veeva_emulator
    veeva_emulator.admin("DELETE", "faults")
    veeva_emulator.admin("DELETE", "validation-rules")
    for sobject in ("Account", "Call2_vod__c"):
        veeva_emulator.admin("PUT", f"hidden-fields/{sobject}", {"fields": []})
