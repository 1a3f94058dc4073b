"""A local stack for the demo, the end-to-end tests and the benchmarks.

Both emulators as real processes started through the CLI, a config pointing the product at them
and at a Kafka broker, and admin helpers. Nothing here is product code: the product only sees
the URLs in the config.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

VMSYNC = str(Path(sys.executable).with_name("vmsync"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], Any], *, timeout: float = 60, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    msg = f"timed out after {timeout:.0f}s waiting for {what or condition}; last value {last!r}"
    raise AssertionError(msg)


@dataclass
class Process:
    """A child process started by the harness, stopped with SIGTERM then SIGKILL."""

    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] = field(init=False)

    def start(self, env: dict[str, str] | None = None) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        return self

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class Emulators:
    """Both emulators, running, with admin clients."""

    root: Path
    veeva_port: int = field(default_factory=free_port)
    marketo_port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)

    @property
    def veeva_url(self) -> str:
        return f"https://127.0.0.1:{self.veeva_port}"

    @property
    def marketo_url(self) -> str:
        return f"http://127.0.0.1:{self.marketo_port}"

    @property
    def veeva_state(self) -> Path:
        return self.root / "veeva"

    @property
    def veeva_cert(self) -> Path:
        return self.veeva_state / "tls-cert.pem"

    def seed(self, person_accounts: int) -> None:
        subprocess.run(
            [
                VMSYNC,
                "emulate",
                "seed",
                "--state",
                str(self.veeva_state),
                "-n",
                str(person_accounts),
            ],
            check=True,
            capture_output=True,
        )

    def start(self, *, provision_marketo: bool = True, skip: tuple[str, ...] = ()) -> Emulators:
        veeva = Process(
            [
                VMSYNC,
                "emulate",
                "veeva",
                "--port",
                str(self.veeva_port),
                "--state",
                str(self.veeva_state),
            ],
            self.root / "veeva.log",
        ).start()
        marketo = Process(
            [
                VMSYNC,
                "emulate",
                "marketo",
                "--port",
                str(self.marketo_port),
                "--state",
                str(self.root / "marketo"),
            ],
            self.root / "marketo.log",
        ).start()
        self.processes += [veeva, marketo]
        wait_until(lambda: self._answers(self.marketo_url), what="the Marketo emulator")
        wait_until(lambda: self._answers(self.veeva_url), what="the Veeva emulator")
        if provision_marketo:
            from veeva_marketo_sync.emulators.marketo.provision import provision_marketo
            from veeva_marketo_sync.processors.mapping import load_mapping

            provision_marketo(self.marketo_url, load_mapping(), skip=frozenset(skip))
        return self

    def _answers(self, url: str) -> bool:
        try:
            httpx.get(f"{url}/__admin/health", verify=False, timeout=2).raise_for_status()  # noqa: S501
        except httpx.HTTPError:
            return False
        return True

    def veeva(self) -> httpx.Client:
        tls = ssl.create_default_context(cafile=str(self.veeva_cert))
        return httpx.Client(base_url=self.veeva_url, verify=tls, timeout=60)

    def marketo(self) -> httpx.Client:
        return httpx.Client(base_url=self.marketo_url, timeout=60)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def write_config(
    path: Path, emulators: Emulators, bootstrap: str, *, extra: dict[str, Any] | None = None
) -> Path:
    """A product config pointing at the emulators and the broker, with a unique topic prefix."""
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "topic_prefix": f"e2e{uuid.uuid4().hex[:6]}",
            "partitions": 3,
            "replication_factor": 1,
            "schema_store_dir": str(path.parent / "schemas"),
        },
        "veeva": {
            "login_url": emulators.veeva_url,
            "username": "integration@veeva.example",
            "password": "password",
            "security_token": "token",
            "ca_bundle": str(emulators.veeva_cert),
        },
        "marketo": {
            "base_url": emulators.marketo_url,
            "client_id": "vmsync-client",
            "client_secret": "vmsync-secret",
        },
        "sync": {
            "poll_interval_seconds": 2,
            "state_dir": str(path.parent / "state"),
            "objects": ["Account", "User", "Call2_vod__c", "Call2_Key_Message_vod__c"],
            "custom_objects": ["Medical_Inquiry_vod__c"],
        },
    }
    for section, values in (extra or {}).items():
        config.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def running_emulators(root: Path, person_accounts: int, **start: Any) -> Iterator[Emulators]:
    emulators = Emulators(root)
    emulators.seed(person_accounts)
    try:
        yield emulators.start(**start)
    finally:
        emulators.stop()


def professional_accounts(emulators: Emulators) -> dict[str, dict[str, Any]]:
    """Every live Professional_vod person account in the Veeva emulator, by Id."""
    with emulators.veeva() as veeva:
        professional = veeva.get("/__admin/info").json()["record_types"]["Professional_vod"]
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            page = veeva.get(
                "/__admin/records/Account", params={"limit": 5000, "offset": offset}
            ).json()["records"]
            for row in page:
                if (
                    row.get("IsPersonAccount") in (True, 1)
                    and row.get("RecordTypeId") == professional
                    and row.get("IsDeleted") in (False, 0, None)
                ):
                    found[row["Id"]] = row
            if len(page) < 5000:
                return found
            offset += len(page)


def marketo_leads(emulators: Emulators, lookup_field: str = "veevaAccountId") -> dict[str, Any]:
    """Every lead in the Marketo emulator that carries a Veeva Id, keyed by it."""
    with emulators.marketo() as marketo:
        leads = marketo.get("/__admin/leads", params={"limit": 10_000_000}).json()
    return {lead[lookup_field]: lead for lead in leads if lead.get(lookup_field)}


def end_offsets(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """The end offset of every partition of ``topics``."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        return {
            (tp.topic, tp.partition): int(o) for tp, o in consumer.end_offsets(partitions).items()
        }
    finally:
        consumer.close()


def group_caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """Whether consumer group ``group`` has committed up to the end of every partition."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        committed = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    done = {
        (tp.topic, tp.partition): getattr(meta, "offset", meta) for tp, meta in committed.items()
    }
    return all(done.get(tp, 0) >= end for tp, end in end_offsets(bootstrap, topics).items())


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record on ``topic`` now, from the beginning (no group)."""
    from kafka import KafkaConsumer, TopicPartition

    ends = end_offsets(bootstrap, [topic])
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    records: list[Any] = []
    try:
        partitions = [TopicPartition(t, p) for (t, p) in ends]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[(tp.topic, tp.partition)] for tp in partitions):
            if time.monotonic() > deadline:
                msg = f"could not read {topic} to its end"
                raise AssertionError(msg)
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def start_component(name: str, config: Path, log_dir: Path, *extra: str) -> Process:
    """Start ``vmsync run <name>`` as a child process (no preflight), logging to a file."""
    return Process(
        [VMSYNC, "run", name, "--config", str(config), "--skip-check", *extra],
        log_dir / f"{name}.log",
    ).start()


def create_topics(config: Path) -> None:
    """``vmsync topics create`` for ``config``."""
    subprocess.run(
        [VMSYNC, "topics", "create", "--config", str(config)], check=True, capture_output=True
    )
