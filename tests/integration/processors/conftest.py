"""Fixtures of the processor tests: the builders of the unit tier, loaded by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_BUILDERS = Path(__file__).resolve().parents[2] / "unit" / "processors" / "processor_builders.py"


def _load_builders() -> None:
    if "processor_builders" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("processor_builders", _BUILDERS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["processor_builders"] = module
    spec.loader.exec_module(module)


_load_builders()
