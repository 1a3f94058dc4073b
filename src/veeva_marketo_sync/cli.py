"""``vmsync``: the one command line of veeva-marketo-sync.

Every component is a sub-command and one process; ``vmsync run all`` runs them together for
small installs. Configuration is one YAML file (``--config``) plus ``VMSYNC_*`` environment
overrides; it is validated at start and a bad key is named, without a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from .errors import VmsyncError
from .settings import Settings, load_settings

app = typer.Typer(
    name="vmsync",
    help=(
        "Event-driven sync between Veeva CRM and Adobe Marketo Engage on Apache Kafka.\n\n"
        "\b\nTypical first run:\n"
        "  vmsync check --config vmsync.yaml         # both sides reachable, fields there?\n"
        "  vmsync topics create --config vmsync.yaml # create the Kafka topics once\n"
        "  vmsync run all --config vmsync.yaml       # snapshot, then sync every 5 minutes"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(
    help="Create and list the Kafka topics the sync uses.", no_args_is_help=True
)
emulate_app = typer.Typer(
    help="Run the Veeva and Marketo API emulators (for tests and the demo; never in production).",
    no_args_is_help=True,
)
run_app = typer.Typer(
    help="Run the sync: one component per process, or all of them together.",
    no_args_is_help=True,
)
app.add_typer(run_app, name="run")
app.add_typer(topics_app, name="topics")
dlq_app = typer.Typer(
    help="List dead letters (records the far side refused, with the reason) and re-drive them.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")
app.add_typer(emulate_app, name="emulate")

err = Console(stderr=True)
out = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config file; VMSYNC_* environment variables override it "
        "(nested keys with __, e.g. VMSYNC_KAFKA__BOOTSTRAP_SERVERS).",
        envvar="VMSYNC_CONFIG",
        show_default=False,
    ),
]

T = TypeVar("T")


def _settings(config: Path | None) -> Settings:
    settings = load_settings(config)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Client libraries log every connection at INFO; keep their warnings, drop the chatter.
    for noisy in ("kafka", "aiokafka", "httpx", "faust", "mode", "urllib3"):
        logging.getLogger(noisy).setLevel(
            max(logging.WARNING, logging.getLevelName(settings.log_level))
        )
    return settings


def guarded(func: Callable[..., T]) -> Callable[..., T]:
    """Turn project errors into a one-line message and exit code 2, without a traceback."""

    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except VmsyncError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(2) from None

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


@topics_app.command("create")
@guarded
def topics_create(config: ConfigOption = None) -> None:
    """Create every topic the configured sync needs, idempotently.

    Partitions, replication factor and prefix come from the `kafka` section; cleanup
    policies are fixed per topic (change events and checkpoints are compacted, commands and
    edits expire). Running it again creates nothing and changes nothing.

    Example: vmsync topics create --config vmsync.yaml
    """
    from .clients.kafka import create_topics

    settings = _settings(config)
    specs = _topic_specs(settings)
    created, present = create_topics(settings.kafka, specs)
    table = Table("topic", "cleanup", "state")
    for spec in specs:
        table.add_row(spec.name, str(spec.cleanup), "created" if spec.name in created else "exists")
    out.print(table)
    out.print(f"{len(created)} created, {len(present)} already there")


@topics_app.command("list")
@guarded
def topics_list(config: ConfigOption = None) -> None:
    """Print the topics the configured sync uses, with their keys and cleanup policies."""
    settings = _settings(config)
    table = Table("topic", "key", "value", "cleanup")
    for spec in _topic_specs(settings):
        table.add_row(spec.name, spec.key, spec.value, str(spec.cleanup))
    out.print(table)


MappingOption = Annotated[
    Path | None,
    typer.Option("--mapping", help="Mapping YAML; `sync.mapping_file`, else the packaged default."),
]


@app.command("check")
@guarded
def check(config: ConfigOption = None, mapping_file: MappingOption = None) -> None:
    """Preflight: log in to both sides and check every field the mapping needs.

    Verifies that every mapped Veeva field is visible to the integration user (and editable
    where it syncs both ways), and that every Marketo lead field, custom object and dedupe
    field the mapping writes exists with a compatible type. Prints one table of what is
    missing and how to fix it; exits 1 when anything is. Every `vmsync run` does this first.
    """
    from .preflight import preflight

    settings = _settings(config)
    problems = preflight(settings, _mapping(settings, mapping_file))
    if not problems:
        out.print("[green]ok[/]: both sides reachable; every mapped field is there")
        return
    table = Table("where", "problem", "how to fix", title=f"{len(problems)} problem(s)")
    for problem in problems:
        table.add_row(problem.where, problem.what, problem.fix)
    out.print(table)
    raise typer.Exit(1)


def _ready(config: Path | None, *, skip_check: bool) -> tuple[Settings, Any]:
    """Settings and mapping of a component about to start, after the preflight (unless told)."""
    from .components import ensure_ready

    settings = _settings(config)
    mapping = _mapping(settings, None)
    if not skip_check:
        ensure_ready(settings, mapping, err)
    return settings, mapping


def _mapping(settings: Settings, override: Path | None) -> Any:
    from .processors.mapping import MappingError, load_mapping

    try:
        return load_mapping(override or settings.sync.mapping_file)
    except MappingError as exc:
        raise VmsyncError(str(exc)) from None


SkipCheck = Annotated[
    bool, typer.Option("--skip-check", help="Do not run the preflight check first.")
]


@run_app.command("veeva-producer")
@guarded
def run_veeva_producer(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run one cycle, then exit.")] = False,
    skip_check: SkipCheck = False,
) -> None:
    """Capture Veeva changes onto the veeva.<Object> topics.

    The first cycle per object is a snapshot of everything the integration user can see,
    streamed page by page with progress and ETA, and resumed from its checkpoint after a crash
    or stop. Later cycles publish what changed since the (SystemModstamp, Id) watermark, then
    pause sync.poll_interval_seconds. SIGTERM finishes the current page and exits.
    """
    from .components import run_veeva_producer as run

    settings, mapping = _ready(config, skip_check=skip_check)
    run(settings, mapping, once=once)


@run_app.command("processor")
@guarded
def run_processor(config: ConfigOption = None, skip_check: SkipCheck = False) -> None:
    """Run the stream processors (faust): mapping and the conflict rules.

    Turns veeva.<Object> change events into Marketo upsert commands (only when a mapped field
    changed), fills owner fields from Users, applies the delete policy, and decides every
    both-way contact-field edit by its field's policy, dropping echoes and holding edits from
    untrusted sources. State lives in tables backed by changelog topics.
    """
    from .processors.runner import run_processor as run

    settings, mapping = _ready(config, skip_check=skip_check)
    run(settings, mapping)


@run_app.command("marketo-writer")
@guarded
def run_marketo_writer(config: ConfigOption = None, skip_check: SkipCheck = False) -> None:
    """Write the marketo.<target> upsert commands to Marketo.

    Batches up to 300 records per call, merges repeated updates of one record, spends the
    rate budget (100 calls / 20 s, 10 concurrent, the daily quota minus the reserve), sends
    rejected records to vmsync.dlq with the reason, and commits offsets only after every
    record of a batch has an outcome. SIGTERM stops without committing an unfinished batch.
    """
    from .components import run_marketo_writer as run

    settings, mapping = _ready(config, skip_check=skip_check)
    run(settings, mapping)


@run_app.command("marketo-edits")
@guarded
def run_marketo_edits(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run one cycle, then exit.")] = False,
    skip_check: SkipCheck = False,
) -> None:
    """Capture edits made in Marketo to the both-way contact fields onto marketo.lead-edits.

    Reads Marketo's lead-changes feed (Change Data Value activities) from a checkpointed
    paging token, keeps only leads linked to a Veeva person account, and publishes one edit
    event per field, keyed by the Veeva Account Id. The conflict rules in the processor decide
    what reaches Veeva.
    """
    from .producers.marketo_edits import run_marketo_edits as run

    settings, mapping = _ready(config, skip_check=skip_check)
    run(settings, mapping, once=once)


@run_app.command("veeva-writer")
@guarded
def run_veeva_writer(config: ConfigOption = None, skip_check: SkipCheck = False) -> None:
    """Apply accepted contact-field edits to Veeva Person Accounts (the reverse topic).

    Only the contact fields of Person Accounts are ever written; anything else is refused into
    vmsync.dlq, as are values that fail the field's describe (type, length, email form,
    picklist) and records Veeva rejects (validation rules), each with the reason. Writes use
    sObject Collections (200 per call, allOrNone=false); offsets are committed after every
    record of a batch has an outcome.
    """
    from .consumers.veeva_writer import run_veeva_writer as run

    settings, mapping = _ready(config, skip_check=skip_check)
    run(settings, mapping)


@run_app.command("all")
@guarded
def run_all(
    config: ConfigOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Stop when the producer has run one cycle.")
    ] = False,
    skip_check: SkipCheck = False,
) -> None:
    """Run every component, each in its own process, for small installs.

    Starts the writers, the processor, the Marketo edit capture and the Veeva producer; SIGTERM
    stops them all gracefully. If one exits with an error, the others are stopped too.
    """
    from .components import COMPONENTS, consumer_inputs, supervise
    from .status import group_lags

    settings, mapping = _ready(config, skip_check=skip_check)
    groups = consumer_inputs(settings, mapping)

    def drained() -> bool:
        return all(lag.lag == 0 for lag in group_lags(settings, groups))

    raise typer.Exit(supervise(config, COMPONENTS, once=once, drained=drained))


TopicFilter = Annotated[
    str | None, typer.Option("--topic", help="Only letters from this original topic.")
]
StageFilter = Annotated[
    str | None, typer.Option("--stage", help="Only letters failed at this stage (e.g. write).")
]


def _dead_letters(settings: Settings, topic: str | None, stage: str | None) -> list[Any]:
    import asyncio

    from .consumers.dead_letters import list_dead_letters
    from .topics import Topics

    def wanted(letter: Any) -> bool:
        return (topic is None or letter.topic == topic) and (stage is None or letter.stage == stage)

    dlq_topic = Topics(settings.kafka.topic_prefix).dlq
    return asyncio.run(list_dead_letters(settings.kafka, dlq_topic, where=wanted))


@dlq_app.command("list")
@guarded
def dlq_list(
    config: ConfigOption = None, topic: TopicFilter = None, stage: StageFilter = None
) -> None:
    """List dead letters, oldest first: where each came from, when, and why it failed.

    Example: vmsync dlq list --config vmsync.yaml --topic marketo.leads
    """
    settings = _settings(config)
    letters = _dead_letters(settings, topic, stage)
    table = Table("dlq offset", "failed at", "original", "key", "stage", "error", "reason")
    for letter in letters:
        table.add_row(
            f"{letter.dlq_partition}/{letter.dlq_offset}",
            letter.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{letter.topic}/{letter.partition}/{letter.offset}",
            (letter.key or b"").decode(errors="replace"),
            letter.stage,
            letter.error_class,
            letter.message,
        )
    out.print(table)
    out.print(f"{len(letters)} dead letter(s)")


@dlq_app.command("redrive")
@guarded
def dlq_redrive(
    config: ConfigOption = None,
    topic: TopicFilter = None,
    stage: StageFilter = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do it without asking.")] = False,
) -> None:
    """Send dead letters back to their original topics, to be processed again.

    Fix the cause first (a missing Marketo field, a Veeva validation rule). Re-driving twice
    is harmless: writes are idempotent upserts keyed by the Veeva Id.
    """
    import asyncio

    from .consumers.dead_letters import redrive
    from .topics import Topics

    settings = _settings(config)
    letters = _dead_letters(settings, topic, stage)
    if not letters:
        out.print("no dead letters match")
        return
    if not yes and not typer.confirm(f"re-drive {len(letters)} dead letter(s)?"):
        raise typer.Exit(1)
    dlq_topic = Topics(settings.kafka.topic_prefix).dlq
    sent = asyncio.run(redrive(settings.kafka, letters, dlq_topic=dlq_topic))
    out.print(f"re-drove {sent} record(s) to their original topics")


@app.command("decisions")
@guarded
def decisions(
    account_id: Annotated[str, typer.Argument(help="Veeva Account Id of the person.")],
    config: ConfigOption = None,
    field: Annotated[
        str | None, typer.Option("--field", help="Only this Veeva or Marketo field.")
    ] = None,
) -> None:
    """Show every conflict decision about one person's both-way fields, oldest first.

    Each row says which side's change was decided, the outcome (echo, applied to the other
    side, rejected by policy, conflict resolved, held), which side won, the value that was
    synced and why. Example: vmsync decisions 001000000000001AAA --field PersonEmail
    """
    import asyncio

    from .consumers.reading import read_to_end
    from .schemas.codec import codec_for
    from .topics import Topics

    settings = _settings(config)
    codec = codec_for(settings.kafka)
    topic = Topics(settings.kafka.topic_prefix).decisions

    async def rows() -> list[tuple[str, dict[str, Any]]]:
        found = []
        async for record in read_to_end(settings.kafka, topic):
            if record.key == account_id.encode() and record.value is not None:
                value = codec.decode(record.value)
                for decision in value["decisions"]:
                    if field in (None, decision["veeva_field"], decision["marketo_field"]):
                        found.append((value["decided_at"].isoformat(), decision))
        return found

    found = asyncio.run(rows())
    table = Table("decided at", "field", "trigger", "outcome", "winner", "value", "written", "why")
    for decided_at, d in found:
        table.add_row(
            decided_at,
            f"{d['veeva_field']} / {d['marketo_field']}",
            d["trigger"],
            d["outcome"],
            d["winner"] or "",
            "" if d["value"] is None else str(d["value"]),
            ", ".join(d["written_to"]),
            d["reason"],
        )
    out.print(table)
    out.print(f"{len(found)} decision(s) for {account_id}")


@app.command("status")
@guarded
def status(config: ConfigOption = None) -> None:
    """Show where the sync stands, from Kafka alone (no Veeva or Marketo call).

    Per object: snapshot or changes phase, records captured, watermark and last checkpoint.
    Per component: how many records its consumer group has not processed yet. And how many
    dead letters wait in vmsync.dlq (`vmsync dlq list` shows them).
    """
    import asyncio

    from .components import consumer_inputs
    from .consumers.reading import read_to_end
    from .schemas.codec import codec_for
    from .status import capture_progress, group_lags
    from .topics import Topics

    settings = _settings(config)
    topics = Topics(settings.kafka.topic_prefix)
    mapping = _mapping(settings, None)
    table = Table("checkpoint", "phase", "records", "watermark", "updated")
    for row in capture_progress(settings, codec_for(settings.kafka)):
        table.add_row(
            row.key,
            row.phase,
            f"{row.records_done:,}",
            row.watermark.isoformat() if row.watermark else "",
            row.updated_at.isoformat(timespec="seconds"),
        )
    out.print(table)
    groups = consumer_inputs(settings, mapping)
    lags = Table("component", "consumer group", "records behind")
    for lag in group_lags(settings, groups):
        behind = f"{lag.lag:,}" + ("" if lag.started else " (not started)")
        lags.add_row(lag.component, lag.group, behind)
    out.print(lags)

    async def count_dlq() -> int:
        return sum([1 async for _ in read_to_end(settings.kafka, topics.dlq)])

    out.print(f"dead letters: {asyncio.run(count_dlq())}")


@app.command("replay")
@guarded
def replay(
    component: Annotated[
        str, typer.Argument(help="marketo-writer, veeva-writer or processor (stopped first).")
    ],
    config: ConfigOption = None,
    since: Annotated[
        datetime | None,
        typer.Option(help="Replay records from this time (ISO 8601, UTC); default: everything."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do it without asking.")] = False,
) -> None:
    """Replay a component's input from Kafka to recover, by moving its offsets back.

    Stop the component first. `marketo-writer --since T` writes every command since T to
    Marketo again (upserts are idempotent); `processor` re-derives commands from the
    compacted veeva.<Object> topics (only changes it has not already sent, unless its state
    topics are deleted too). Then start the component again.
    Example: vmsync replay marketo-writer --since 2026-12-01T00:00:00 --config vmsync.yaml
    """
    from .components import consumer_inputs
    from .status import reset_group

    settings = _settings(config)
    inputs = consumer_inputs(settings, _mapping(settings, None))
    if component not in inputs:
        raise VmsyncError(f"cannot replay {component!r}: choose one of {', '.join(inputs)}")
    when = "the beginning" if since is None else since.isoformat()
    if not yes and not typer.confirm(f"replay {component} from {when}?"):
        raise typer.Exit(1)
    group, topics = inputs[component]
    moved = reset_group(settings, group, topics, since)
    for partition, offset in sorted(moved.items()):
        out.print(f"{partition} -> {offset}")
    out.print(f"{component} will replay from {when} when it starts")


StateOption = Annotated[
    Path, typer.Option("--state", help="Directory for the emulator's SQLite state (kept).")
]
HostOption = Annotated[str, typer.Option("--host", help="Interface to bind; keep loopback.")]


@emulate_app.command("veeva")
def emulate_veeva(
    port: Annotated[int, typer.Option("--port", help="TCP port to serve on.")] = 8443,
    state: StateOption = Path(".vmsync/emulators/veeva"),
    host: HostOption = "127.0.0.1",
    session_lifetime: Annotated[
        float, typer.Option(help="Seconds a session stays valid before INVALID_SESSION_ID.")
    ] = 7200.0,
) -> None:
    """Serve a Veeva CRM (Salesforce org) emulator over HTTPS until interrupted.

    The certificate is made at start and written to STATE/tls-cert.pem: point
    `veeva.ca_bundle` at it. Log in at https://HOST:PORT as integration@veeva.example with
    password `password` and security token `token`. Seed data with `vmsync emulate seed`.
    """
    from .emulators.veeva import serve

    serve(host, port, state, tls=True, session_lifetime=session_lifetime)


@emulate_app.command("marketo")
def emulate_marketo(
    port: Annotated[int, typer.Option("--port", help="TCP port to serve on.")] = 8444,
    state: StateOption = Path(".vmsync/emulators/marketo"),
    host: HostOption = "127.0.0.1",
) -> None:
    """Serve a Marketo Engage REST emulator over HTTP until interrupted.

    Client id `vmsync-client`, secret `vmsync-secret`. Create the fields and custom objects
    the mapping needs with `vmsync emulate marketo-setup --url http://HOST:PORT`.
    """
    from .emulators.marketo import serve

    serve(host, port, state)


@emulate_app.command("marketo-setup")
@guarded
def emulate_marketo_setup(
    url: Annotated[str, typer.Option("--url", help="Base URL of a running Marketo emulator.")],
    mapping_file: Annotated[
        Path | None, typer.Option("--mapping", help="Mapping YAML; the packaged default if unset.")
    ] = None,
) -> None:
    """Create the lead fields and custom objects the mapping needs, as a Marketo admin would."""
    from .emulators.marketo.provision import provision_marketo
    from .processors.mapping import load_mapping

    created = provision_marketo(url, load_mapping(mapping_file))
    out.print(f"created {len(created)}: " + (", ".join(created) or "nothing (all there)"))


@emulate_app.command("seed")
def emulate_seed(
    state: StateOption = Path(".vmsync/emulators/veeva"),
    person_accounts: Annotated[
        int, typer.Option("--person-accounts", "-n", min=0, help="Person accounts to generate.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 7,
) -> None:
    """Generate realistic, deterministic Veeva data into an emulator's state directory.

    Writes person accounts (mostly Professional_vod), business accounts, users, calls and
    call key messages over the last 12 months, key messages and medical inquiries. The
    emulator need not be running. Example: vmsync emulate seed -n 1000000
    """
    from .emulators.veeva import seed as seed_state

    report = seed_state(state, person_accounts, seed)
    table = Table("object", "records")
    for name, count in report.as_dict().get("counts", {}).items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    out.print(f"seeded in {report.seconds:.1f} s into {state}")


def _topic_specs(settings: Settings) -> list[Any]:
    from .components import marketo_targets
    from .topics import Topics

    objects = (*settings.sync.objects, *settings.sync.custom_objects)
    targets = marketo_targets(_mapping(settings, None))
    return Topics(settings.kafka.topic_prefix).specs(objects, targets)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
