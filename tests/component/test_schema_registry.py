"""The codec against a fake Confluent Schema Registry (httpx.MockTransport)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veeva_marketo_sync.schemas.canonical import canonical_form
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.compatibility import backward_problems
from veeva_marketo_sync.schemas.contracts import envelope_schema
from veeva_marketo_sync.schemas.errors import (
    IncompatibleSchemaError,
    SchemaDecodeError,
    SchemaRegistryError,
)
from veeva_marketo_sync.schemas.from_describe import schema_from_describe
from veeva_marketo_sync.schemas.registry import CONTENT_TYPE, SchemaRegistryClient
from veeva_marketo_sync.schemas.store import SchemaStore

URL = "http://registry.test:8081"
AT = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)


class FakeRegistry:
    """The registry endpoints the codec uses, with BACKWARD checks on registration."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.config: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_with: int | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:  # noqa: PLR0911 - a flat router
        path = request.url.path
        self.calls.append((request.method, path))
        if self.fail_with is not None:
            return _error(self.fail_with, self.fail_with * 100 + 1, "failing on purpose")
        if request.method == "PUT" and (m := re.fullmatch(r"/config/([^/]+)", path)):
            self.config[m[1]] = json.loads(request.content)["compatibility"]
            return _json(200, {"compatibility": self.config[m[1]]})
        if request.method == "POST" and (m := re.fullmatch(r"/subjects/([^/]+)/versions", path)):
            return self._register(m[1], json.loads(request.content)["schema"])
        if request.method == "GET" and (
            m := re.fullmatch(r"/subjects/([^/]+)/versions/latest", path)
        ):
            versions = self.subjects.get(m[1])
            if not versions:
                return _error(404, 40401, f"Subject '{m[1]}' not found.")
            schema_id = versions[-1]
            return _json(
                200,
                {
                    "subject": m[1],
                    "version": len(versions),
                    "id": schema_id,
                    "schema": self.schemas[schema_id],
                },
            )
        if request.method == "GET" and (m := re.fullmatch(r"/schemas/ids/(\d+)", path)):
            text = self.schemas.get(int(m[1]))
            if text is None:
                return _error(404, 40403, "Schema not found")
            return _json(200, {"schema": text})
        return _error(404, 404, "no such endpoint")

    def _register(self, subject: str, text: str) -> httpx.Response:
        canonical = canonical_form(json.loads(text))
        for schema_id, known in self.schemas.items():
            if canonical_form(json.loads(known)) == canonical:
                if schema_id not in self.subjects.setdefault(subject, []):
                    self.subjects[subject].append(schema_id)
                return _json(200, {"id": schema_id})
        versions = self.subjects.setdefault(subject, [])
        if (
            versions
            and self.config.get(subject) == "BACKWARD"
            and backward_problems(json.loads(text), json.loads(self.schemas[versions[-1]]))
        ):
            return _error(
                409, 409, "Schema being registered is incompatible with an earlier schema"
            )
        schema_id = len(self.schemas) + 1
        self.schemas[schema_id] = text
        versions.append(schema_id)
        return _json(200, {"id": schema_id})


def _json(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"Content-Type": CONTENT_TYPE})


def _error(status: int, code: int, message: str) -> httpx.Response:
    return _json(status, {"error_code": code, "message": message})


@pytest.fixture
def fake() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def registry(fake: FakeRegistry) -> Iterator[SchemaRegistryClient]:
    with SchemaRegistryClient(URL, transport=httpx.MockTransport(fake)) as client:
        yield client


def _account(*extra: dict[str, str]) -> dict[str, Any]:
    fields = [{"name": "Id", "type": "id"}, {"name": "PersonEmail", "type": "email"}, *extra]
    return envelope_schema(schema_from_describe({"name": "Account", "fields": fields}))


def _event(after: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "object": "Account",
        "id": "001000000000001AAA",
        "op": "upsert",
        "source": {
            "system": "veeva",
            "org_id": "00D",
            "user_id": None,
            "modstamp": AT,
            "cycle_id": "c1",
        },
        "after": after,
        "emitted_at": AT,
    }


def test_encode_registers_under_topic_value_with_backward_and_frames_the_id(
    fake: FakeRegistry, registry: SchemaRegistryClient
) -> None:
    codec = AvroCodec(registry=registry)
    schema = _account()

    first = codec.encode("veeva.Account", schema, _event({"Id": "001", "PersonEmail": "a@b.c"}))
    codec.encode("veeva.Account", schema, _event(None))

    assert first[:5] == b"\x00\x00\x00\x00\x01"
    assert fake.config == {"veeva.Account-value": "BACKWARD"}
    assert fake.calls == [
        ("PUT", "/config/veeva.Account-value"),
        ("POST", "/subjects/veeva.Account-value/versions"),
    ]


def test_decoder_fetches_an_unknown_id_once_and_caches_it(
    fake: FakeRegistry, registry: SchemaRegistryClient
) -> None:
    data = AvroCodec(registry=registry).encode("veeva.Account", _account(), _event(None))
    consumer = AvroCodec(registry=registry)
    fake.calls.clear()

    assert consumer.decode(data) == _event(None)
    assert consumer.decode(data) == _event(None)
    assert fake.calls == [("GET", "/schemas/ids/1")]


def test_one_decoder_reads_both_framings(registry: SchemaRegistryClient, tmp_path: Path) -> None:
    with_registry = AvroCodec(registry=registry).encode("veeva.Account", _account(), _event(None))
    without = AvroCodec(SchemaStore(tmp_path)).encode("veeva.Account", _account(), _event(None))
    decoder = AvroCodec(SchemaStore(tmp_path), registry=registry)

    assert with_registry[:1] == b"\x00"
    assert without[:2] == b"\xc3\x01"
    assert decoder.decode(with_registry) == decoder.decode(without) == _event(None)


def test_a_compatible_evolution_gets_a_new_id(registry: SchemaRegistryClient) -> None:
    codec = AvroCodec(registry=registry)
    old = codec.encode("veeva.Account", _account(), _event(None))
    new = codec.encode(
        "veeva.Account", _account({"name": "NPI_vod__c", "type": "string"}), _event(None)
    )

    assert old[1:5] == (1).to_bytes(4, "big")
    assert new[1:5] == (2).to_bytes(4, "big")
    assert codec.decode(
        old, reader_schema=_account({"name": "NPI_vod__c", "type": "string"})
    ) == _event(None)


def test_an_incompatible_schema_is_refused_naming_the_field(registry: SchemaRegistryClient) -> None:
    codec = AvroCodec(registry=registry)
    codec.encode("veeva.Account", _account(), _event(None))
    changed = _account()
    after = next(f for f in changed["fields"] if f["name"] == "after")
    email = next(f for f in after["type"][1]["fields"] if f["name"] == "PersonEmail")
    email["type"] = ["null", "boolean"]

    with pytest.raises(IncompatibleSchemaError) as caught:
        codec.encode("veeva.Account", changed, _event(None))

    assert caught.value.subject == "veeva.Account-value"
    assert caught.value.problems == (
        "field 'after.PersonEmail': type changed from [null, string] to [null, boolean] "
        "(string values can no longer be read)",
    )


def test_an_unknown_schema_id_is_a_decode_error(registry: SchemaRegistryClient) -> None:
    with pytest.raises(SchemaDecodeError, match=r"Confluent schema id 42 .*404"):
        AvroCodec(registry=registry).decode(b"\x00\x00\x00\x00\x2a\x00")


def test_registry_server_errors_are_retriable(
    fake: FakeRegistry, registry: SchemaRegistryClient
) -> None:
    fake.fail_with = 503

    with pytest.raises(SchemaRegistryError, match="answered 503") as caught:
        AvroCodec(registry=registry).decode(b"\x00\x00\x00\x00\x01\x00")

    assert caught.value.retriable


def test_unreachable_registry_is_retriable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        SchemaRegistryClient(URL, transport=httpx.MockTransport(refuse)) as client,
        pytest.raises(SchemaRegistryError, match="retry later") as caught,
    ):
        client.register("veeva.Account-value", _account())

    assert caught.value.retriable
    assert caught.value.status_code is None


def test_an_injected_client_is_used_and_left_open(fake: FakeRegistry) -> None:
    with httpx.Client(transport=httpx.MockTransport(fake)) as http:
        SchemaRegistryClient(URL, client=http).close()
        schema_id = SchemaRegistryClient(URL, client=http).register("t-value", _account())

        assert schema_id == 1
        assert not http.is_closed


names = st.from_regex(r"[A-Z][a-z]{1,8}(__c)?", fullmatch=True)
text_types = st.sampled_from(
    ["string", "picklist", "email", "textarea", "boolean", "double", "int"]
)
values = {
    "boolean": st.booleans(),
    "double": st.floats(allow_nan=False),
    "int": st.integers(-(2**31), 2**31 - 1),
}


@st.composite
def schema_and_event(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = [
        {"name": n, "type": draw(text_types)} for n in sorted(draw(st.sets(names, max_size=12)))
    ]
    schema = _account(*fields)
    after = {"Id": "001", "PersonEmail": draw(st.none() | st.text(max_size=20))}
    for field in fields:
        after[field["name"]] = draw(st.none() | values.get(field["type"], st.text(max_size=20)))
    return schema, _event(after)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(schema_and_event())
def test_confluent_round_trip_of_generated_schemas(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    schema, event = case
    with SchemaRegistryClient(URL, transport=httpx.MockTransport(FakeRegistry())) as client:
        data = AvroCodec(registry=client).encode("veeva.Account", schema, event)

        assert data[:1] == b"\x00"
        assert AvroCodec(registry=client).decode(data) == event


def test_an_equal_schema_rebuilt_per_record_is_registered_once(
    fake: FakeRegistry, registry: SchemaRegistryClient
) -> None:
    codec = AvroCodec(registry=registry)

    for _ in range(3):
        codec.encode("veeva.Account", _account(), _event(None))

    assert fake.calls.count(("POST", "/subjects/veeva.Account-value/versions")) == 1
