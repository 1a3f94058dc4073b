"""Veeva CRM (Salesforce org) API emulator: REST, SOAP/OAuth login, Bulk 2.0 and admin API."""

from veeva_marketo_sync.emulators.veeva.app import create_app, serve
from veeva_marketo_sync.emulators.veeva.seed import SeedReport, seed

__all__ = ["SeedReport", "create_app", "seed", "serve"]
