"""Fixtures of the emulator contract tests (each emulator's live in its own module)."""

from veeva_fixtures import (  # noqa: F401 - re-exported as fixtures
    veeva_clean,
    veeva_emulator,
    veeva_http,
    veeva_sf,
)
