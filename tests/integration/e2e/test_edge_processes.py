"""Both edge components as processes: they do their work, then stop cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from devstack import Process, running_emulators
from edge_helpers import deployment, eventually, read_all

from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import CONTACT_EDIT, load_contract
from veeva_marketo_sync.settings import Settings
from veeva_marketo_sync.topics import Topics

pytestmark = pytest.mark.integration

# What `vmsync run marketo-edits|veeva-writer` will call once the CLI wires them.
SCRIPT = """
import logging, sys
from pathlib import Path
from veeva_marketo_sync.processors.mapping import load_mapping
from veeva_marketo_sync.settings import load_settings

logging.basicConfig(level=logging.INFO)
settings = load_settings(Path(sys.argv[2]))
if sys.argv[1] == "veeva-writer":
    from veeva_marketo_sync.consumers.veeva_writer import run_veeva_writer
    run_veeva_writer(settings, load_mapping())
else:
    from veeva_marketo_sync.producers.marketo_edits import run_marketo_edits
    run_marketo_edits(settings, load_mapping(), once=False)
"""


def start(component: str, config: Path, root: Path) -> Process:
    return Process(
        [sys.executable, "-c", SCRIPT, component, str(config)], root / f"{component}.log"
    ).start()


def terminate(process: Process) -> int:
    process.popen.send_signal(signal.SIGTERM)
    try:
        return process.popen.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{process.args[3]} ignored SIGTERM:\n{process.tail()}")


async def produce_edit(settings: Settings, account_id: str, fields: dict[str, Any]) -> None:
    from aiokafka import AIOKafkaProducer

    topic = Topics(settings.kafka.topic_prefix).contact_edits
    record = {
        "account_id": account_id,
        "fields": fields,
        "origin": "marketo",
        "decided_at": 1_700_000_000_000,
    }
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        value = AvroCodec().encode(topic, load_contract(CONTACT_EDIT), record)
        await producer.send_and_wait(topic, key=account_id.encode(), value=value)
    finally:
        await producer.stop()


async def test_marketo_edits_and_veeva_writer_run_until_sigterm(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    with running_emulators(tmp_path, 3) as emulators:
        settings = await deployment(tmp_path, emulators, kafka_bootstrap)
        config = tmp_path / "vmsync.yaml"  # written by deployment()
        with emulators.veeva() as veeva:
            rows = veeva.get("/__admin/records/Account", params={"limit": 10}).json()["records"]
            account_id = next(r["Id"] for r in rows if r.get("IsPersonAccount"))
        with emulators.marketo() as marketo:
            values = {"email": "p@example.com", "veevaAccountId": account_id}
            lead = marketo.post("/__admin/leads", json={"values": values, "as": "api"}).json()
            marketo.post(
                f"/__admin/leads/{lead['id']}/edit",
                json={"changes": {"email": "p.new@example.com"}, "as": "person"},
            ).raise_for_status()

        capture = start("marketo-edits", config, tmp_path)
        writer = start("veeva-writer", config, tmp_path)
        try:
            topics = Topics(settings.kafka.topic_prefix)

            async def published() -> bool:
                return len(await read_all(settings, topics.lead_edits)) == 1

            await eventually(published, what="the person edit on marketo.lead-edits")
            await produce_edit(settings, account_id, {"FirstName": "Sigrid"})

            def applied() -> bool:
                with emulators.veeva() as veeva:
                    record = veeva.get(f"/__admin/records/Account/{account_id}").json()
                return bool(record["FirstName"] == "Sigrid")

            await eventually(applied, what="the contact edit in Veeva")
        finally:
            codes = {"marketo-edits": terminate(capture), "veeva-writer": terminate(writer)}

        assert codes == {"marketo-edits": 0, "veeva-writer": 0}, capture.tail() + writer.tail()
        for process in (capture, writer):
            log = process.log.read_text()
            assert "Traceback" not in log
            assert "vmsync-secret" not in log
