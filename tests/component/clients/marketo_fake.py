"""A Marketo stand-in for ``httpx.MockTransport``: tokens, envelopes, scripted failures."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qs

import httpx

BASE_URL = "https://123-ABC-456.mktorest.com"
CLIENT_ID = "vmsync-client-id"
CLIENT_SECRET = "mkto-secret-Zq9x"


def error(code: str, message: str = "scripted") -> dict[str, Any]:
    return {"requestId": "r#1", "success": False, "errors": [{"code": code, "message": message}]}


def ok(result: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"requestId": "r#1", "success": True, **extra}
    if result is not None:
        body["result"] = result
    return body


class FakeMarketo:
    """Plays Marketo's identity service and the REST endpoints the client uses."""

    def __init__(self, *, expires_in: int = 3599) -> None:
        self.expires_in = expires_in
        self.token_requests: list[httpx.Request] = []
        self.api_requests: list[httpx.Request] = []
        self.scripted: dict[str, list[Any]] = defaultdict(list)
        self.valid_tokens: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate: asyncio.Event | None = None
        self.all_in: asyncio.Event = asyncio.Event()
        self.expect_in_flight = 0
        self.dedupe_fields = ["veevaCallId"]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def script(self, path: str, *answers: Any) -> None:
        """Answer the next calls to ``path`` with these bodies (dicts) or exceptions, in order."""
        self.scripted[path].extend(answers)

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/identity/oauth/token":
            return self._token(request)
        self.api_requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.expect_in_flight and self.in_flight >= self.expect_in_flight:
                self.all_in.set()
            if self.gate is not None:
                await self.gate.wait()
            return self._answer(request)
        finally:
            self.in_flight -= 1

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        params = request.url.params
        if params.get("client_id") != CLIENT_ID or params.get("client_secret") != CLIENT_SECRET:
            body = {"error": "invalid_client", "error_description": "Bad client credentials"}
            return httpx.Response(401, json=body)
        token = f"token-{len(self.token_requests)}:ab"
        self.valid_tokens.add(token)
        return httpx.Response(
            200,
            json={
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "scope": "api@example.com",
            },
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        queue = self.scripted.get(path)
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, httpx.Response):
                return answer
            return httpx.Response(200, json=answer)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.valid_tokens:
            return httpx.Response(200, json=error("601", "Access token invalid"))
        return httpx.Response(200, json=self._default(request))

    def _default(self, request: httpx.Request) -> dict[str, Any]:
        path = request.url.path
        if path == "/rest/v1/leads.json" and request.method == "POST":
            if request.headers.get("content-type", "").startswith("application/x-www-form"):
                form = parse_qs(request.content.decode())
                values = form["filterValues"][0].split(",")
                return ok([{"id": i, "email": v} for i, v in enumerate(values, 1)])
            records = json.loads(request.content)["input"]
            return ok([{"id": 100 + i, "status": "created"} for i, _ in enumerate(records)])
        if path == "/rest/v1/leads.json":
            values = request.url.params["filterValues"].split(",")
            return ok([{"id": i, "email": v} for i, v in enumerate(values, 1)])
        if path.startswith("/rest/v1/customobjects/") and request.method == "POST":
            records = json.loads(request.content)["input"]
            return ok(
                [
                    {"seq": i, "status": "created", "marketoGUID": f"g-{i}"}
                    for i, _ in enumerate(records)
                ]
            )
        if path == "/rest/v1/customobjects.json":
            return ok([{"name": "veeva_call_c", "dedupeFields": self.dedupe_fields}])
        return ok([])
