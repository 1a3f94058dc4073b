#!/usr/bin/env python3
"""The demo (`make demo`): the whole sync on a local Kafka broker and both API emulators.

1. starts Apache Kafka (KRaft) from the provisioned jars and both emulators;
2. seeds the Veeva emulator and creates the Marketo fields the mapping needs;
3. runs `vmsync check`, `vmsync topics create` and `vmsync run all` (snapshot with progress);
4. waits until every Professional person account is a Marketo lead;
5. edits a person in Veeva and shows the change arriving in Marketo;
6. edits the same person's phone in Marketo and shows it arriving in Veeva;
7. prints the API calls spent, then stops everything.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

from devstack import (
    VMSYNC,
    Emulators,
    Process,
    marketo_leads,
    professional_accounts,
    wait_until,
    write_config,
)
from local_kafka import ROOT, start_broker

WORK = ROOT / ".cache" / "demo"


def say(text: str) -> None:
    print(f"\n\033[1;36m==> {text}\033[0m", flush=True)


def vmsync(*args: str) -> None:
    subprocess.run([VMSYNC, *args], check=True)


def wait_for_snapshot(emulators: Emulators) -> dict[str, dict[str, object]]:
    expected = professional_accounts(emulators)
    started = time.monotonic()

    def converged() -> bool:
        done = len(set(marketo_leads(emulators)) & set(expected))
        print(f"  Marketo leads: {done:,}/{len(expected):,}", end="\r", flush=True)
        return done == len(expected)

    wait_until(converged, timeout=900, interval=1, what="the snapshot to reach Marketo")
    print(
        f"\nall {len(expected):,} Professional person accounts are Marketo leads "
        f"({time.monotonic() - started:.1f} s)"
    )
    return expected


def show_veeva_edit(emulators: Emulators, account_id: str) -> dict[str, object]:
    new_email = f"demo.{int(time.time())}@example.org"
    say(f"editing Account {account_id} in Veeva: PersonEmail -> {new_email}")
    with emulators.veeva() as veeva:
        veeva.patch(
            f"/__admin/records/Account/{account_id}", json={"PersonEmail": new_email}
        ).raise_for_status()

    def arrived() -> dict[str, object] | None:
        lead = marketo_leads(emulators).get(account_id)
        return lead if lead and lead.get("email") == new_email else None

    lead: dict[str, object] = wait_until(arrived, timeout=120, what="the Veeva edit in Marketo")
    print(f"Marketo lead {lead['id']} now has email {lead['email']}")
    return lead


def show_marketo_edit(emulators: Emulators, account_id: str, lead_id: object) -> None:
    new_phone = f"+1 555 {int(time.time()) % 10_000:04d}"
    say(f"editing lead {lead_id} in Marketo as a person: phone -> {new_phone}")
    with emulators.marketo() as marketo:
        marketo.post(
            f"/__admin/leads/{lead_id}/edit",
            json={"changes": {"phone": new_phone}, "as": "person"},
        ).raise_for_status()

    def arrived() -> bool:
        with emulators.veeva() as veeva:
            row = veeva.get(f"/__admin/records/Account/{account_id}").json()
        return bool(row.get("Phone") == new_phone)

    wait_until(arrived, timeout=120, what="the Marketo edit in Veeva")
    print(f"Veeva Account {account_id} now has Phone {new_phone}")


def run_demo(emulators: Emulators, bootstrap: str, person_accounts: int) -> Process:
    say(f"seeding the Veeva emulator with {person_accounts:,} person accounts")
    vmsync("emulate", "seed", "--state", str(emulators.veeva_state), "-n", str(person_accounts))
    say("starting the Veeva (HTTPS) and Marketo emulators; creating Marketo fields")
    emulators.start()
    print(f"Veeva at {emulators.veeva_url}, Marketo at {emulators.marketo_url}")
    config = write_config(
        WORK / "vmsync.yaml", emulators, bootstrap, extra={"kafka": {"topic_prefix": "demo"}}
    )
    say("vmsync check (preflight)")
    vmsync("check", "--config", str(config))
    say("vmsync topics create")
    vmsync("topics", "create", "--config", str(config))
    say("vmsync run all: snapshot, then a cycle every 2 s (300 s by default)")
    sync = Process(
        [VMSYNC, "run", "all", "--config", str(config), "--skip-check"], WORK / "sync.log"
    ).start()
    try:
        expected = wait_for_snapshot(emulators)
        account_id = sorted(expected)[0]
        lead = show_veeva_edit(emulators, account_id)
        show_marketo_edit(emulators, account_id, lead["id"])
        say("API calls spent")
        with emulators.marketo() as marketo:
            print("Marketo:", marketo.get("/__admin/counters").json())
        with emulators.veeva() as veeva:
            print("Veeva:", veeva.get("/__admin/counters").json())
    except BaseException:
        sync.stop(timeout=40)
        raise
    return sync


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--person-accounts", type=int, default=2000)
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    say("starting Apache Kafka (KRaft, one node) from Maven Central jars")
    broker = start_broker(WORK / "kafka")
    print(f"Kafka at {broker.bootstrap}")
    emulators = Emulators(WORK)
    try:
        sync = run_demo(emulators, broker.bootstrap, args.person_accounts)
        sync.stop(timeout=40)
    except AssertionError as exc:
        print(f"\ndemo failed: {exc}; logs in {WORK}", file=sys.stderr)
        return 1
    finally:
        emulators.stop()
        broker.stop()
    say("demo finished: the sync converged both ways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
