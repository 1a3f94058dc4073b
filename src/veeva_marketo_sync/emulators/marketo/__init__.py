"""Adobe Marketo Engage REST API emulator (identity, leads, activities, custom objects, admin)."""

from veeva_marketo_sync.emulators.marketo.app import create_app, serve

__all__ = ["create_app", "serve"]
