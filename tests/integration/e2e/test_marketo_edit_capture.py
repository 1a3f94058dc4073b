"""Marketo edit capture against the Marketo emulator over HTTP and the real Kafka broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from devstack import running_emulators
from edge_helpers import deployment, read_all

from veeva_marketo_sync.processors.mapping import load_mapping
from veeva_marketo_sync.producers.marketo_edits import MarketoEditCapture
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import LEAD_EDIT, load_contract
from veeva_marketo_sync.settings import Settings
from veeva_marketo_sync.topics import Topics

pytestmark = pytest.mark.integration

ACCOUNT = "001000000000042AAA"


async def capture_once(settings: Settings) -> int:
    capture = MarketoEditCapture.from_settings(settings, load_mapping())
    try:
        return await capture.run_once()
    finally:
        await capture.close()


async def lead_edits(settings: Settings) -> list[tuple[bytes, dict[str, Any]]]:
    codec = AvroCodec()
    schema = load_contract(LEAD_EDIT)
    records = await read_all(settings, Topics(settings.kafka.topic_prefix).lead_edits)
    return [(r.key, codec.decode(r.value, schema)) for r in records]


async def test_person_edits_and_form_fills_of_linked_leads_become_lead_edits_once(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    with running_emulators(tmp_path, 5) as emulators:
        settings = await deployment(tmp_path, emulators, kafka_bootstrap)
        with emulators.marketo() as marketo:

            def create(values: dict[str, Any]) -> int:
                response = marketo.post("/__admin/leads", json={"values": values, "as": "api"})
                return int(response.raise_for_status().json()["id"])

            def edit(lead_id: int, changes: dict[str, Any], kind: str) -> None:
                marketo.post(
                    f"/__admin/leads/{lead_id}/edit", json={"changes": changes, "as": kind}
                ).raise_for_status()

            linked = create(
                {"email": "ann@example.com", "firstName": "Ann", "veevaAccountId": ACCOUNT}
            )
            unlinked = create({"email": "web@example.com", "firstName": "Web"})
            edit(linked, {"email": "ann.new@example.com", "firstName": "Anne"}, "person")
            edit(unlinked, {"email": "web.new@example.com"}, "person")
            edit(linked, {"email": "ann.form@example.com"}, "form")

            assert await capture_once(settings) == 3

            events = await lead_edits(settings)
            assert {key for key, _ in events} == {ACCOUNT.encode()}
            by_change = {(e["field"], e["new_value"]): e for _, e in events}
            assert set(by_change) == {
                ("email", "ann.new@example.com"),
                ("firstName", "Anne"),
                ("email", "ann.form@example.com"),
            }
            person = by_change["email", "ann.new@example.com"]
            assert person["lead_id"] == linked
            assert person["veeva_account_id"] == ACCOUNT
            assert person["old_value"] == "ann@example.com"
            assert person["attributes"]["Source"] == "Marketo UI"
            form = by_change["email", "ann.form@example.com"]
            assert form["attributes"]["Source"] == "Web form fillout"
            assert form["old_value"] == "ann.new@example.com"

            # A new process resumes from the checkpointed paging token: nothing is published twice.
            assert await capture_once(settings) == 0
            assert len(await lead_edits(settings)) == 3

            edit(linked, {"firstName": "Annie"}, "person")
            assert await capture_once(settings) == 1
            events = await lead_edits(settings)
            assert [e["new_value"] for _, e in events].count("Annie") == 1
            assert len(events) == 4
