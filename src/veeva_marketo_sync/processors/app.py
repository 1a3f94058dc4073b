"""The faust App of the processors, built from ``Settings`` (faust-touching, kept thin).

faust is untyped; this module and :mod:`.agents` are the only ones that import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from veeva_marketo_sync.clients.kafka import ssl_context
from veeva_marketo_sync.settings import KafkaSettings, Settings

APP_NAME = "vmsync-processor"


@dataclass(frozen=True)
class ProcessorTuning:
    """Knobs of the worker that are not deployment configuration.

    Args:
        batch_size: Most events an agent handles per batch.
        batch_within: Seconds an agent waits to fill a batch.
        web_port: Port of faust's web server; ``None`` disables it (two workers on one host
            would fight over 6066).
        session_timeout: Consumer group session timeout in seconds.
        heartbeat_interval: Consumer heartbeat interval in seconds.
        log_level: crit, error, warn, info or debug.
    """

    batch_size: int = 500
    batch_within: float = 0.5
    web_port: int | None = None
    session_timeout: float = 30.0
    heartbeat_interval: float = 3.0
    log_level: str = "warn"


def app_id(kafka: KafkaSettings) -> str:
    """The consumer group and internal-topic prefix: ``<prefix>.vmsync-processor``."""
    return f"{kafka.topic_prefix}.{APP_NAME}" if kafka.topic_prefix else APP_NAME


def broker_urls(kafka: KafkaSettings) -> list[str]:
    """``kafka://host:port`` for each bootstrap server."""
    return [f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",") if server]


def broker_credentials(kafka: KafkaSettings) -> Any:
    """Faust credentials for the configured security protocol (``None`` for PLAINTEXT)."""
    context = ssl_context(kafka)
    if kafka.security_protocol.startswith("SASL"):
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=password,
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def build_app(settings: Settings, tuning: ProcessorTuning | None = None) -> Any:
    """A faust App for the deployment: raw keys and values, memory store, changelogged tables.

    Args:
        settings: The deployment's settings.
        tuning: Worker knobs; defaults when omitted.

    Returns:
        The (untyped) ``faust.App``; :func:`.agents.register` adds the tables and agents.
    """
    tuning = tuning or ProcessorTuning()
    kafka = settings.kafka
    return faust.App(
        app_id(kafka),
        broker=broker_urls(kafka),
        broker_credentials=broker_credentials(kafka),
        broker_client_id=kafka.client_id,
        broker_session_timeout=tuning.session_timeout,
        broker_heartbeat_interval=tuning.heartbeat_interval,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=tuning.web_port is not None,
        web_port=tuning.web_port or 6066,
        datadir=str(settings.sync.state_dir / "processor"),
        autodiscover=False,
    )
