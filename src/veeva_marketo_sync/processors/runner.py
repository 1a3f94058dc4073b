"""Run the processors as one blocking faust worker; SIGTERM or SIGINT stops it cleanly."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from veeva_marketo_sync.errors import ConfigError
from veeva_marketo_sync.processors.agents import register
from veeva_marketo_sync.processors.app import ProcessorTuning, build_app
from veeva_marketo_sync.processors.encoding import OutputEncoder
from veeva_marketo_sync.processors.mapping import Mapping, load_mapping
from veeva_marketo_sync.processors.pipeline import Pipeline
from veeva_marketo_sync.schemas.codec import codec_for
from veeva_marketo_sync.settings import Settings
from veeva_marketo_sync.topics import Topics

log = logging.getLogger(__name__)


def build_pipeline(settings: Settings, mapping: Mapping) -> Pipeline:
    """The pure rules with the deployment's codec (schema store or registry) and topics."""
    kafka = settings.kafka
    codec = codec_for(kafka)
    return Pipeline(mapping, OutputEncoder(codec, Topics(kafka.topic_prefix)))


def build_worker(
    settings: Settings, mapping: Mapping | None = None, tuning: ProcessorTuning | None = None
) -> Any:
    """A faust Worker (not started) running every processor agent on a fresh event loop.

    Raises:
        ConfigError: No configured object is in the mapping, so there is nothing to process.
    """
    tuning = tuning or ProcessorTuning()
    mapping = mapping or load_mapping(settings.sync.mapping_file)
    pipeline = build_pipeline(settings, mapping)
    objects = (*settings.sync.objects, *settings.sync.custom_objects)
    unmapped = sorted(set(objects) - set(mapping.objects))
    if unmapped:
        log.warning("configured but not in the mapping, not processed: %s", ", ".join(unmapped))
    (settings.sync.state_dir / "processor").mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = build_app(settings, tuning)
    topics = register(app, pipeline, objects, tuning)
    if not topics:
        msg = "no configured object (sync.objects, sync.custom_objects) is in the mapping"
        raise ConfigError(msg, hint="map at least one of them or fix the names")
    log.info("processing %s", ", ".join(topics))
    return faust.Worker(
        app,
        loop=loop,
        loglevel=tuning.log_level,
        quiet=True,
        redirect_stdouts=False,
    )


def run_processor(
    settings: Settings,
    mapping: Mapping | None = None,
    *,
    tuning: ProcessorTuning | None = None,
) -> None:
    """Run the processors until SIGTERM or SIGINT, then stop cleanly and return.

    Args:
        settings: The deployment's settings (Kafka, topics, state dir, mapping file).
        mapping: The validated mapping; ``sync.mapping_file`` (or the default) when omitted.
        tuning: Batch size, web server, group timeouts, log level.

    Raises:
        ConfigError: Nothing to process.
        SystemExit: The worker crashed (non-zero code).
    """
    worker = build_worker(settings, mapping, tuning)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
