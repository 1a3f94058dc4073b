"""Local schema store: `.avsc` files keyed by CRC-64-AVRO fingerprint, plus an in-process cache.

Used when no Schema Registry is configured: producers add the schemas they write, consumers
sharing the directory resolve the fingerprints of single-object encoded messages.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from veeva_marketo_sync.schemas.canonical import fingerprint
from veeva_marketo_sync.schemas.contracts import CONTRACT_NAMES, load_contract
from veeva_marketo_sync.schemas.errors import SchemaError


def store_file_name(schema_fingerprint: int) -> str:
    """Return the file name under which a fingerprint's schema is stored."""
    return f"{schema_fingerprint:016x}.avsc"


class SchemaStore:
    """Schemas by fingerprint, in memory and (optionally) in a directory.

    Args:
        directory: Where `.avsc` files are kept; created when the first schema is added.
            `None` keeps schemas in this process only.
        include_contracts: Preload the checked-in contracts (envelope template, edit events,
            dead letters, checkpoints, upsert commands).
    """

    def __init__(self, directory: Path | None = None, *, include_contracts: bool = True) -> None:
        self.directory = directory
        self._schemas: dict[int, dict[str, Any]] = {}
        if include_contracts:
            for name in CONTRACT_NAMES:
                self.add(load_contract(name), persist=False)

    def add(self, schema: Mapping[str, Any], *, persist: bool = True) -> int:
        """Keep `schema` and return its fingerprint; write it to the directory if there is one."""
        plain: dict[str, Any] = json.loads(json.dumps(schema))
        key = fingerprint(plain)
        if key in self._schemas:
            return key
        self._schemas[key] = plain
        if persist and self.directory is not None:
            path = self.directory / store_file_name(key)
            if not path.exists():
                write_atomically(path, json.dumps(plain, indent=2, sort_keys=True) + "\n")
        return key

    def get(self, schema_fingerprint: int) -> dict[str, Any] | None:
        """Return the schema with this fingerprint, or None when neither cache nor directory has it.

        Raises:
            SchemaError: The stored file is not valid JSON or holds a different schema.
        """
        cached = self._schemas.get(schema_fingerprint)
        if cached is not None or self.directory is None:
            return cached
        path = self.directory / store_file_name(schema_fingerprint)
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return None
        try:
            schema: dict[str, Any] = json.loads(text)
            actual = fingerprint(schema)
        except ValueError as exc:
            msg = f"schema store file {path} is not a valid Avro schema: {exc}"
            raise SchemaError(msg) from exc
        if actual != schema_fingerprint:
            msg = (
                f"schema store file {path} holds the schema with fingerprint {actual:016x}, "
                "not the one its name says; remove or rename it"
            )
            raise SchemaError(msg)
        self._schemas[schema_fingerprint] = schema
        return schema

    def __contains__(self, schema_fingerprint: object) -> bool:
        return isinstance(schema_fingerprint, int) and self.get(schema_fingerprint) is not None


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readers in other processes must never see half a file.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
