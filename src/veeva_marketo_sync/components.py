"""Start each component as one process: wiring from settings, signals, and the supervisor.

``vmsync run <component>`` calls one of the ``run_*`` functions; ``vmsync run all`` starts every
component as a child process and stops them together.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.table import Table

from .clients.marketo import MarketoClient
from .clients.veeva import VeevaClient
from .consumers.marketo_writer import MarketoWriter, WriterConfig
from .errors import ConfigError
from .preflight import preflight
from .processors.mapping import Mapping
from .processors.marketo_requirements import required_custom_objects
from .producers.progress import default_progress
from .producers.veeva_capture import VeevaCapture
from .schemas.codec import codec_for
from .settings import Settings
from .topics import Topics

log = logging.getLogger(__name__)

#: Components in start order: consumers first, so nothing waits on them.
COMPONENTS: tuple[str, ...] = (
    "marketo-writer",
    "veeva-writer",
    "processor",
    "marketo-edits",
    "veeva-producer",
)


def ensure_ready(settings: Settings, mapping: Mapping, console: Console) -> None:
    """Run the preflight; raise ``ConfigError`` with the table printed when anything is wrong."""
    problems = preflight(settings, mapping)
    if problems:
        table = Table("where", "problem", "how to fix", title="preflight failed")
        for problem in problems:
            table.add_row(problem.where, problem.what, problem.fix)
        console.print(table)
        msg = f"{len(problems)} preflight problem(s); fix them or run `vmsync check` for details"
        raise ConfigError(msg)


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT, so the component finishes its page and exits."""

    def handler(signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("received %s: stopping after the current page", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_veeva_producer(settings: Settings, mapping: Mapping, *, once: bool) -> None:
    """Capture Veeva changes onto Kafka: snapshot first, then cycles (or one cycle)."""
    stop = threading.Event()
    stop_on_signals(stop)
    capture = VeevaCapture.from_settings(
        settings, VeevaClient(settings.veeva), mapping, progress=default_progress()
    )
    try:
        capture.stop_event = stop
        if once:
            capture.run_once()
        else:
            capture.run(stop)
    finally:
        capture.close()
    for name, stats in capture.stats.items():
        log.info("%s: %s", name, stats)


def group_id(settings: Settings, component: str) -> str:
    """Consumer group of a component, prefixed so several orgs can share a cluster."""
    prefix = settings.kafka.topic_prefix
    return f"{prefix}.vmsync-{component}" if prefix else f"vmsync-{component}"


def marketo_targets(mapping: Mapping) -> tuple[str, ...]:
    """The ``marketo.<target>`` suffixes the mapping writes: ``leads`` and ``co.<object>``."""
    return ("leads", *(f"co.{obj.name}" for obj in required_custom_objects(mapping)))


def consumer_inputs(settings: Settings, mapping: Mapping) -> dict[str, tuple[str, list[str]]]:
    """Each consuming component's consumer group and input topics."""
    topics = Topics(settings.kafka.topic_prefix)
    objects = (*settings.sync.objects, *settings.sync.custom_objects)
    return {
        "processor": (
            group_id(settings, "processor"),
            [*(topics.veeva(o) for o in objects), topics.lead_edits],
        ),
        "marketo-writer": (
            group_id(settings, "marketo-writer"),
            [topics.marketo(t) for t in marketo_targets(mapping)],
        ),
        "veeva-writer": (group_id(settings, "veeva-writer"), [topics.contact_edits]),
    }


def run_marketo_writer(settings: Settings, mapping: Mapping) -> None:
    """Write upsert commands to Marketo until SIGTERM/SIGINT, then finish or drop the round."""
    targets = marketo_targets(mapping)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with MarketoClient(settings.marketo) as api:
            writer = MarketoWriter(
                settings.kafka,
                api,
                codec_for(settings.kafka),
                targets=targets,
                topics=Topics(settings.kafka.topic_prefix),
                config=WriterConfig(group_id=group_id(settings, "marketo-writer")),
            )
            await writer.run(stop)
            log.info("marketo writer stopped: %s", writer.status())

    asyncio.run(main())


def supervise(
    config: Path | None,
    components: Sequence[str],
    *,
    once: bool = False,
    drained: Callable[[], bool] | None = None,
    drain_timeout: float = 900.0,
) -> int:
    """Run each component as a child ``vmsync run`` process until one fails or we are stopped.

    SIGTERM/SIGINT is passed on to every child, which then finishes its batch or page. With
    ``once``, the producer runs one cycle; when it is done and ``drained()`` says everything
    downstream has caught up (or ``drain_timeout`` passed), all are stopped.
    Returns the first non-zero exit code of a child (0 when all stopped cleanly).
    """
    base = [sys.executable, "-m", "veeva_marketo_sync", "run"]
    extra = (["--config", str(config)] if config else []) + ["--skip-check"]
    children = {
        # Our own interpreter and module with arguments we built: no untrusted input.
        name: subprocess.Popen(  # noqa: S603
            [*base, name, *extra, *(["--once"] if once and name == "veeva-producer" else [])]
        )
        for name in components
    }
    stop = threading.Event()
    stop_on_signals(stop)
    code = 0
    try:
        while not stop.is_set():
            for name, child in children.items():
                status = child.poll()
                if status is not None and (status != 0 or not once):
                    log.error("component %s exited with %s; stopping the others", name, status)
                    code = code or status or 1
                    stop.set()
            if once and children["veeva-producer"].poll() == 0:
                _wait_drained(drained, drain_timeout, stop)
                stop.set()
            stop.wait(0.5)
    finally:
        _terminate(children.values())
    return code


def _wait_drained(
    drained: Callable[[], bool] | None, timeout: float, stop: threading.Event
) -> None:
    deadline = time.monotonic() + timeout
    while drained is not None and not stop.is_set() and time.monotonic() < deadline:
        if drained():
            return
        stop.wait(1.0)
    if drained is not None and not stop.is_set():
        log.warning("downstream did not catch up within %.0f s; stopping anyway", timeout)


def _terminate(children: Iterable[subprocess.Popen[bytes]]) -> None:
    procs = list(children)
    for child in procs:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in procs:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
