"""Session-wide fixtures: the real Kafka broker for integration tests."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _local_kafka_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "local_kafka", ROOT / "scripts" / "local_kafka.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_kafka"] = module
    spec.loader.exec_module(module)
    return module


_BROKER_NOTES: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which real broker the integration tests used, so the CI log shows it."""
    for note in _BROKER_NOTES:
        terminalreporter.write_line(f"[kafka] {note}")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Apache Kafka broker: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else one we start.

    Without Java the tests skip on a developer's machine, but under CI a missing broker fails.
    """
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        _BROKER_NOTES.append(f"integration tests ran against KAFKA_BOOTSTRAP_SERVERS={external}")
        yield external
        return
    if shutil.which("java") is None or shutil.which("mvn") is None:
        reason = "no KAFKA_BOOTSTRAP_SERVERS and no Java/Maven to start a local Kafka broker"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    module = _local_kafka_module()
    broker = module.start_broker(tmp_path_factory.mktemp("kafka"))
    jar = next(module.JARS.glob("kafka_2.13-*.jar"), None)
    _BROKER_NOTES.append(
        f"integration tests ran against Apache Kafka {jar.stem.split('-')[-1] if jar else '?'} "
        f"(KRaft, one node) started by scripts/local_kafka.py at {broker.bootstrap}"
    )
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
