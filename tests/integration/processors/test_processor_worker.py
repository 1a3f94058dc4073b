"""The processor worker (faust, in a subprocess) on the real broker: events in, commands out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaConsumer, TopicPartition
from processor_builders import ACCOUNT_ID, Events, call, person, user

from veeva_marketo_sync.clients.kafka import create_topics, make_consumer, make_producer
from veeva_marketo_sync.producers.change_events import Op
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.store import SchemaStore
from veeva_marketo_sync.settings import KafkaSettings
from veeva_marketo_sync.topics import Topics

pytestmark = pytest.mark.integration

OBJECTS = ("Account", "User", "Call2_vod__c")
TARGETS = ("leads", "co.veevaCall_c")
DEADLINE = 90.0


@dataclass
class Seen:
    topic: str
    key: str | None
    value: Any
    headers: dict[str, str]


@dataclass
class Outputs:
    """Reads the output topics from their beginning, decoding what it can."""

    consumer: KafkaConsumer
    codec: AvroCodec
    dlq: str
    alive: Callable[[], None]
    seen: list[Seen] = field(default_factory=list)

    def wait_for(self, what: str, ready: Callable[[list[Seen]], bool]) -> list[Seen]:
        deadline = time.monotonic() + DEADLINE
        while not ready(self.seen):
            assert time.monotonic() < deadline, f"timed out waiting for {what}; saw {self.seen}"
            self.alive()
            for records in self.consumer.poll(timeout_ms=200).values():
                for r in records:
                    value = r.value if r.topic == self.dlq else self.codec.decode(r.value)
                    headers = {name: raw.decode() for name, raw in r.headers or ()}
                    key = r.key.decode() if r.key is not None else None
                    self.seen.append(Seen(r.topic, key, value, headers))
        return self.seen

    def on(self, topic: str, key: str | None = None) -> list[Seen]:
        return [s for s in self.seen if s.topic == topic and (key is None or s.key == key)]


@dataclass
class Deployment:
    topics: Topics
    kafka: KafkaSettings
    events: Events
    config: Path
    log: Path
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def produce(self, topic: str, key: bytes, value: bytes | None) -> None:
        producer = make_producer(self.kafka)
        try:
            producer.send(topic, key=key, value=value).get(timeout=30)
        finally:
            producer.close()

    def veeva(self, object_name: str, record: dict[str, Any], op: Op = Op.UPSERT) -> None:
        key, value = self.events.change(object_name, record, op)
        self.produce(self.topics.veeva(object_name), key, value)

    def outputs(self, worker: subprocess.Popen[bytes]) -> Outputs:
        names = [
            *(self.topics.marketo(t) for t in TARGETS),
            self.topics.contact_edits,
            self.topics.decisions,
            self.topics.dlq,
        ]
        consumer = make_consumer(self.kafka)
        self.closers.append(consumer.close)
        partitions = [
            TopicPartition(name, p) for name in names for p in consumer.partitions_for_topic(name)
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)

        def alive() -> None:
            if worker.poll() is not None:
                pytest.fail(f"worker exited with {worker.returncode}:\n{self.tail()}")

        return Outputs(consumer, self.events.codec, self.topics.dlq, alive)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def start_worker(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "veeva_marketo_sync.processors",
            "--config",
            str(self.config),
            "--batch-within",
            "0.2",
            "--session-timeout",
            "10",
            "--heartbeat-interval",
            "1",
            *os.environ.get("VMSYNC_TEST_WORKER_ARGS", "").split(),
        ]
        log = self.log.open("ab")
        self.closers.append(log.close)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VMSYNC_")}
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


@pytest.fixture
def deployment(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Deployment]:
    prefix = f"it{uuid.uuid4().hex[:8]}"
    topics = Topics(prefix)
    store_dir = tmp_path / "schemas"
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=prefix,
        partitions=2,
        replication_factor=1,
        schema_store_dir=store_dir,
    )
    create_topics(kafka, topics.specs(OBJECTS, TARGETS))
    config = tmp_path / "vmsync.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": kafka_bootstrap,
                    "topic_prefix": prefix,
                    "partitions": 2,
                    "replication_factor": 1,
                    "schema_store_dir": str(store_dir),
                },
                "veeva": {"username": "integration@veeva.example", "password": "unused"},
                "marketo": {
                    "base_url": "http://127.0.0.1:9",
                    "client_id": "unused",
                    "client_secret": "unused",
                },
                "sync": {"objects": list(OBJECTS), "state_dir": str(tmp_path / "state")},
            }
        )
    )
    events = Events(topics, AvroCodec(SchemaStore(store_dir)))
    d = Deployment(topics, kafka, events, config, tmp_path / "worker.log")
    yield d
    for close in d.closers:
        close()


def full_commands(seen: list[Seen]) -> list[Seen]:
    return [s for s in seen if s.value["action"] == "createOrUpdate"]


def _stop(worker: subprocess.Popen[bytes], log: Path) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        code = worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        pytest.fail(f"worker did not stop on SIGTERM:\n{log.read_text()[-4000:]}")
    assert code == 0, f"worker exited with {code}:\n{log.read_text()[-4000:]}"


def test_worker_maps_veeva_events_and_applies_lead_edits(deployment: Deployment) -> None:
    d = deployment
    leads, calls = d.topics.marketo("leads"), d.topics.marketo("co.veevaCall_c")
    d.veeva("User", user())
    d.veeva("Account", person(), Op.SNAPSHOT)
    d.veeva("Call2_vod__c", call())
    d.produce(d.topics.veeva("Account"), b"001BROKEN", b"\x00garbage")
    worker = d.start_worker()
    try:
        out = d.outputs(worker)
        out.wait_for(
            "the person, the call and the dead letter",
            lambda _: bool(out.on(leads) and out.on(calls) and out.on(d.topics.dlq)),
        )
        # The User and Account agents race: the owner fields come with the person or after it.
        (created,) = full_commands(out.on(leads, ACCOUNT_ID))
        assert created.value["fields"]["email"] == "ada@example.org"
        (call_command,) = out.on(calls)
        assert call_command.value["fields"]["veevaAccountId"] == ACCOUNT_ID
        (letter,) = out.on(d.topics.dlq)
        assert letter.key == "001BROKEN"
        assert letter.value == b"\x00garbage"
        assert letter.headers["__connect.errors.stage"] == "decode"

        # An unmapped change costs nothing; the mapped change after it shows it was handled.
        d.veeva("Account", person(Description="only Veeva cares"))
        d.veeva("Account", person(NPI_vod__c="5550001111"))
        out.wait_for(
            "the mapped change", lambda _: len(full_commands(out.on(leads, ACCOUNT_ID))) >= 2
        )
        commands = full_commands(out.on(leads, ACCOUNT_ID))
        assert len(commands) == 2
        assert commands[1].value["fields"]["veevaNPI"] == "5550001111"

        key, value = d.events.lead_edit("email", "ada@marketo.example")
        d.produce(d.topics.lead_edits, key, value)
        out.wait_for(
            "the contact edit and its decision",
            lambda _: bool(out.on(d.topics.contact_edits) and out.on(d.topics.decisions)),
        )
        (edit,) = out.on(d.topics.contact_edits, ACCOUNT_ID)
        assert edit.value["fields"] == {"PersonEmail": "ada@marketo.example"}
        (decision,) = out.on(d.topics.decisions, ACCOUNT_ID)
        assert decision.value["decisions"][0]["winner"] == "marketo"
    finally:
        _stop(worker, d.log)


def test_state_survives_a_restart_through_the_changelogs(deployment: Deployment) -> None:
    d = deployment
    leads = d.topics.marketo("leads")
    d.veeva("Account", person(), Op.SNAPSHOT)
    # The user's partition gets a committed offset in this first run: faust 0.15 can skip the
    # first event of a partition that never had a committed offset when a worker restarts.
    d.veeva("User", user())
    worker = d.start_worker()
    try:
        out = d.outputs(worker)
        out.wait_for("the person", lambda _: bool(out.on(leads, ACCOUNT_ID)))
    finally:
        _stop(worker, d.log)

    d.veeva("Account", person(Description="unmapped"))  # same mapped state: no command
    d.veeva("User", user(Title="Head of KAM"))  # owns the person: an update-only refresh
    worker = d.start_worker()
    try:
        out = d.outputs(worker)
        out.wait_for(
            "the owner refresh",
            lambda seen: any(
                s.key == ACCOUNT_ID and s.value["fields"].get("veevaOwnerTitle") == "Head of KAM"
                for s in seen
            ),
        )
        commands = out.on(leads, ACCOUNT_ID)
        assert len(full_commands(commands)) == 1  # `sent` came back from its changelog
        assert commands[-1].value["action"] == "updateOnly"  # so did `owned` and `owners`
    finally:
        _stop(worker, d.log)
