"""``python -m veeva_marketo_sync.processors --config FILE``: run the processor worker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from veeva_marketo_sync.errors import VmsyncError
from veeva_marketo_sync.processors.app import ProcessorTuning
from veeva_marketo_sync.processors.mapping import MappingError, load_mapping
from veeva_marketo_sync.processors.runner import run_processor
from veeva_marketo_sync.settings import load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m veeva_marketo_sync.processors")
    parser.add_argument("--config", type=Path, help="YAML config (VMSYNC_* env overrides it)")
    parser.add_argument("--mapping", type=Path, help="mapping YAML (default: sync.mapping_file)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-within", type=float, default=0.5, help="seconds")
    parser.add_argument("--web-port", type=int, default=None, help="faust web server (off)")
    parser.add_argument("--session-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--heartbeat-interval", type=float, default=3.0, help="seconds")
    parser.add_argument(
        "--log-level", default="warn", choices=["crit", "error", "warn", "info", "debug"]
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the worker until it is stopped; returns the exit code."""
    args = _parser().parse_args(argv)
    tuning = ProcessorTuning(
        batch_size=args.batch_size,
        batch_within=args.batch_within,
        web_port=args.web_port,
        session_timeout=args.session_timeout,
        heartbeat_interval=args.heartbeat_interval,
        log_level=args.log_level,
    )
    try:
        settings = load_settings(args.config)
        mapping = load_mapping(args.mapping or settings.sync.mapping_file)
        run_processor(settings, mapping, tuning=tuning)
    except (VmsyncError, MappingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
