"""A small client of the Confluent Schema Registry REST API (sync httpx).

Only what the codec needs: register a value schema (BACKWARD), fetch a schema by id, read the
latest version of a subject to explain a refusal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import httpx

from veeva_marketo_sync.schemas.compatibility import backward_problems
from veeva_marketo_sync.schemas.errors import IncompatibleSchemaError, SchemaRegistryError

CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"
BACKWARD: Final = "BACKWARD"


def value_subject(topic: str) -> str:
    """Return the TopicNameStrategy subject of a topic's values, `<topic>-value`."""
    return f"{topic}-value"


class SchemaRegistryClient:
    """Confluent-compatible Schema Registry client.

    Args:
        base_url: e.g. `http://registry:8081`.
        client: An `httpx.Client` to use (its base URL is ignored); the caller closes it.
        transport: A transport for a client this object creates and closes (tests pass
            `httpx.MockTransport`).
        timeout: Seconds per request for a client this object creates.
        auth: Basic-auth (user, password) for a client this object creates.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=timeout, auth=auth)
        self._compatibility_set: set[str] = set()

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """Register `schema` under `subject` with BACKWARD compatibility; return its id.

        Registering a schema the subject already has returns the existing id.

        Raises:
            IncompatibleSchemaError: The registry refused it (409); the problems name the fields.
            SchemaRegistryError: Any other failure (`retriable` says whether to retry).
        """
        if subject not in self._compatibility_set:
            self.set_compatibility(subject, BACKWARD)
            self._compatibility_set.add(subject)
        path = f"/subjects/{quote(subject, safe='')}/versions"
        body = {"schema": json.dumps(schema, separators=(",", ":")), "schemaType": "AVRO"}
        try:
            answer = self._request("POST", path, body)
        except SchemaRegistryError as exc:
            if exc.status_code != 409:
                raise
            latest = self.latest_schema(subject)
            problems = [] if latest is None else backward_problems(schema, latest)
            raise IncompatibleSchemaError(subject, problems or [str(exc)]) from exc
        return int(answer["id"])

    def set_compatibility(self, subject: str, level: str = BACKWARD) -> None:
        """Set the subject's compatibility level (PUT /config/{subject})."""
        self._request("PUT", f"/config/{quote(subject, safe='')}", {"compatibility": level})

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        """Return the schema with this global id (GET /schemas/ids/{id}).

        Raises:
            SchemaRegistryError: Unknown id (404, not retriable) or another failure.
        """
        answer = self._request("GET", f"/schemas/ids/{schema_id}")
        return _parse_schema_text(answer, f"schema id {schema_id}")

    def latest_schema(self, subject: str) -> dict[str, Any] | None:
        """Return the latest schema of `subject`, or None when the subject does not exist."""
        try:
            answer = self._request("GET", f"/subjects/{quote(subject, safe='')}/versions/latest")
        except SchemaRegistryError as exc:
            if exc.status_code == 404:
                return None
            raise
        return _parse_schema_text(answer, f"latest version of {subject}")

    def _request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        try:
            response = self._client.request(
                method,
                url,
                content=None if body is None else json.dumps(body),
                headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
            )
        except httpx.TransportError as exc:
            msg = f"schema registry {method} {url} failed: {exc!r}; retry later"
            raise SchemaRegistryError(msg, status_code=None, retriable=True) from exc
        if response.is_success:
            try:
                answer: dict[str, Any] = response.json()
            except ValueError as exc:
                msg = f"schema registry {method} {url} answered with non-JSON: {response.text!r}"
                raise SchemaRegistryError(
                    msg, status_code=response.status_code, retriable=False
                ) from exc
            return answer
        status = response.status_code
        msg = f"schema registry {method} {url} answered {status}: {_error_message(response)}"
        raise SchemaRegistryError(msg, status_code=status, retriable=status >= 500 or status == 429)


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(payload, dict):
        return f"{payload.get('message', '')} (error_code {payload.get('error_code', '?')})"
    return str(payload)[:500]


def _parse_schema_text(answer: Mapping[str, Any], what: str) -> dict[str, Any]:
    schema_type = answer.get("schemaType", "AVRO")
    if schema_type != "AVRO":
        msg = f"{what} is a {schema_type} schema, not Avro"
        raise SchemaRegistryError(msg, status_code=None, retriable=False)
    schema: Any = json.loads(answer["schema"])
    if isinstance(schema, str):
        schema = {"type": schema}
    if not isinstance(schema, dict):
        msg = f"{what} is not a named Avro schema: {answer['schema'][:200]!r}"
        raise SchemaRegistryError(msg, status_code=None, retriable=False)
    return schema
