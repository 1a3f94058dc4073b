"""The last payload schema published per object, and the BACKWARD check of a new one.

Without a Schema Registry nothing else remembers which schema an object's topic was written
with, so the producer keeps it in its state directory (one `.avsc` per object).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import FatalError
from ..schemas.compatibility import backward_problems
from ..schemas.store import write_atomically


class PayloadSchemaHistory:
    """Previous payload schemas by object, on disk (`directory`) or in memory (None)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._memory: dict[str, dict[str, Any]] = {}

    def previous(self, object_name: str) -> dict[str, Any] | None:
        """The payload schema last accepted for `object_name`, if any."""
        if object_name in self._memory:
            return self._memory[object_name]
        if self.directory is None:
            return None
        path = _path(self.directory, object_name)
        if not path.exists():
            return None
        schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
        self._memory[object_name] = schema
        return schema

    def accept(self, object_name: str, schema: Mapping[str, Any]) -> None:
        """Check `schema` against the previous one and remember it.

        Raises:
            FatalError: A reader with `schema` cannot read events written with the previous
                one; the message names every field and why.
        """
        plain: dict[str, Any] = json.loads(json.dumps(schema, sort_keys=True))
        previous = self.previous(object_name)
        if previous is not None:
            if previous == plain:
                return
            problems = backward_problems(plain, previous)
            if problems:
                msg = (
                    f"{object_name}: the payload schema generated from describe is not BACKWARD "
                    f"compatible with the one already published: {'; '.join(problems)}"
                )
                raise FatalError(
                    msg,
                    hint="restore the field in Veeva or publish to a new topic; capture stopped",
                )
        self._memory[object_name] = plain
        if self.directory is not None:
            text = json.dumps(plain, indent=2) + "\n"
            write_atomically(_path(self.directory, object_name), text)


def _path(directory: Path, object_name: str) -> Path:
    return directory / f"{object_name}.payload.avsc"
