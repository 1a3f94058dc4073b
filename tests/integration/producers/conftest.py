"""Fixtures of Veeva capture over a real Kafka broker with the in-memory Veeva fake."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_FAKES = Path(__file__).resolve().parents[2] / "unit" / "producers" / "capture_fakes.py"


def _load_fakes() -> None:
    # One fake serves the unit and the integration tier; load it by path like the root conftest.
    if "capture_fakes" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("capture_fakes", _FAKES)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["capture_fakes"] = module
    spec.loader.exec_module(module)


_load_fakes()
