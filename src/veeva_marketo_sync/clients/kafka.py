"""Kafka connections built from ``KafkaSettings``: producer, consumer and admin factories.

kafka-python serves the synchronous producers and the admin; aiokafka (under faust and the
writers) takes its own option names, so both spellings are derived here from one settings
section.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from ..settings import KafkaSettings
from ..topics import TopicSpec

log = logging.getLogger(__name__)


def kafka_python_options(settings: KafkaSettings) -> dict[str, Any]:
    """Connection options in kafka-python's spelling."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    if settings.ssl_cafile:
        options["ssl_cafile"] = str(settings.ssl_cafile)
    if settings.ssl_certfile:
        options["ssl_certfile"] = str(settings.ssl_certfile)
    if settings.ssl_keyfile:
        options["ssl_keyfile"] = str(settings.ssl_keyfile)
    if settings.ssl_password is not None:
        options["ssl_password"] = settings.ssl_password.get_secret_value()
    return options


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """A TLS context for aiokafka when the protocol uses SSL, else ``None``."""
    if "SSL" not in settings.security_protocol:
        return None
    context = ssl.create_default_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
    )
    if settings.ssl_certfile:
        context.load_cert_chain(
            str(settings.ssl_certfile),
            str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
            settings.ssl_password.get_secret_value() if settings.ssl_password else None,
        )
    return context


def aiokafka_options(settings: KafkaSettings) -> dict[str, Any]:
    """Connection options in aiokafka's spelling."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return options


def make_producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    """An idempotent producer with ``acks=all``: nothing acknowledged is ever lost or doubled."""
    options = kafka_python_options(settings)
    options.update(
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
        retries=2**31 - 1,
        delivery_timeout_ms=120_000,
    )
    options.update(overrides)
    return KafkaProducer(**options)


def make_consumer(settings: KafkaSettings, **overrides: Any) -> KafkaConsumer:
    """A consumer that commits only when told to (offsets follow finished work)."""
    options = kafka_python_options(settings)
    options.update(enable_auto_commit=False, auto_offset_reset="earliest")
    options.update(overrides)
    return KafkaConsumer(**options)


def create_topics(
    settings: KafkaSettings, specs: list[TopicSpec], *, timeout_ms: int = 30_000
) -> tuple[list[str], list[str]]:
    """Create every topic in ``specs`` that is missing; returns (created, already there).

    Idempotent: running it again creates nothing and changes nothing.
    """
    admin = KafkaAdminClient(**kafka_python_options(settings), request_timeout_ms=timeout_ms)
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        created: list[str] = []
        for spec in missing:
            topic = NewTopic(
                name=spec.name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=spec.configs(),
            )
            try:
                admin.create_topics([topic], timeout_ms=timeout_ms)
                created.append(spec.name)
            except TopicAlreadyExistsError:
                log.debug("topic %s appeared while creating it", spec.name)
        present = [spec.name for spec in specs if spec.name in existing]
        return created, present
    finally:
        admin.close()
