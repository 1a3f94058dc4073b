"""Run the Marketo emulator with uvicorn on a free loopback port, for contract tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from marketorestpython.client import MarketoClient

from veeva_marketo_sync.emulators.marketo import create_app

CLIENT_ID = "contract-client"
CLIENT_SECRET = "contract-secret"
MUNCHKIN = "123-ABC-456"
START_TIMEOUT = 10.0


@dataclass
class RunningMarketo:
    """A live emulator: its URL, state dir and an httpx client for admin and raw calls."""

    base_url: str
    state_dir: Path
    http: httpx.Client

    def client(self, max_retry_time: int = 30) -> MarketoClient:
        """Return a real marketorestpython client pointed at the emulator."""
        mc = MarketoClient(MUNCHKIN, CLIENT_ID, CLIENT_SECRET, max_retry_time=max_retry_time)
        mc.host = self.base_url
        return mc

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API and return its JSON (raising on an HTTP error)."""
        response = self.http.request(method, f"/__admin/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def token(self) -> str:
        """Fetch an access token from the identity service."""
        response = self.http.get(
            "/identity/oauth/token",
            params={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        )
        return str(response.json()["access_token"])

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        """Make a raw REST call with a bearer token."""
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def add_lead_field(self, name: str, data_type: str = "string") -> None:
        """Create a custom lead field."""
        self.admin("POST", "lead-fields", {"name": name, "dataType": data_type})


@contextmanager
def run_marketo(state_dir: Path, **app_kwargs: Any) -> Iterator[RunningMarketo]:
    """Serve the emulator in a background thread until the block exits."""
    app = create_app(state_dir, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **app_kwargs)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Marketo emulator did not start")
            time.sleep(0.01)
        base_url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base_url, timeout=30) as http:
            yield RunningMarketo(base_url=base_url, state_dir=state_dir, http=http)
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        sock.close()


@pytest.fixture(name="marketo")
def marketo_fixture(tmp_path: Path) -> Iterator[RunningMarketo]:
    """A fresh emulator with its own state directory."""
    with run_marketo(tmp_path / "marketo") as running:
        yield running


@pytest.fixture(name="mc")
def mc_fixture(marketo: RunningMarketo) -> MarketoClient:
    """A marketorestpython client for the `marketo` fixture."""
    return marketo.client()
