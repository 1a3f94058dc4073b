"""The processor's keyed state and a per-batch overlay over it (pure).

Tables (changelog-backed in the worker, plain dicts in tests):

* ``sent``: Veeva record Id → ``{"fields": {...}, "owner": user id}``, the mapped fields last
  sent to Marketo (neither owner fields, which ``owners`` tracks per User, nor bidirectional
  fields, which live in ``conflicts``).
* ``owners``: User Id → ``{"fields": {...}}``, the owner fields that User puts on persons.
* ``owned``: User Id → sorted list of the Person Account Ids it owns.
* ``conflicts``: Account Id → ``{veeva field: FieldState.to_dict()}``.
* ``waiting``: Account Id → custom-object commands (topic, key, base64 value) held until the
  person's own lead command has gone out, so Marketo never sees a record linked to a lead it
  does not have yet.

A batch reads through a :class:`StateView` and writes into it; the worker applies the writes
to its tables only after every output of the batch is acknowledged, so a crash in between
replays the batch instead of losing commands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

SENT: Final = "sent"
OWNERS: Final = "owners"
OWNED: Final = "owned"
CONFLICTS: Final = "conflicts"
WAITING: Final = "waiting"
TABLES: Final = (SENT, OWNERS, OWNED, CONFLICTS, WAITING)


class KeyValue(Protocol):
    """What the overlay needs of a table: lookup by text key (a ``dict`` fits)."""

    def get(self, key: str, /) -> Any:
        """The value at ``key``, or ``None``."""


class StateView:
    """Reads from the tables, with this batch's own writes on top.

    Args:
        tables: Table name → its current contents (any mapping with ``get``).
    """

    def __init__(self, tables: Mapping[str, KeyValue]) -> None:
        missing = [name for name in TABLES if name not in tables]
        if missing:
            msg = f"state needs the tables {', '.join(missing)}"
            raise ValueError(msg)
        self._tables = tables
        self._writes: dict[str, dict[str, Any]] = {name: {} for name in TABLES}

    def begin(self) -> StateView:
        """A nested view whose writes reach this one only on :meth:`commit_to`.

        Returns:
            The nested view (used to drop the writes of an event that is dead-lettered).
        """
        return StateView({name: _TableOf(self, name) for name in TABLES})

    def commit_to(self, parent: StateView) -> None:
        """Copy this view's writes into ``parent``.

        Args:
            parent: The view this one was begun from.
        """
        for name, keys in self._writes.items():
            for key, value in keys.items():
                parent.put(name, key, value)

    def get(self, table: str, key: str) -> Any:
        """The current value of ``key`` in ``table`` (``None`` if absent or deleted)."""
        writes = self._writes[table]
        if key in writes:
            return writes[key]
        return self._tables[table].get(key)

    def put(self, table: str, key: str, value: Any) -> None:
        """Set ``key`` in ``table``; ``None`` deletes it."""
        self._writes[table][key] = value

    @property
    def writes(self) -> dict[str, dict[str, Any]]:
        """Table → key → new value (``None`` = delete) of everything this batch wrote."""
        return {name: dict(keys) for name, keys in self._writes.items() if keys}


class _TableOf:
    def __init__(self, view: StateView, table: str) -> None:
        self._view = view
        self._table = table

    def get(self, key: str, /) -> Any:
        return self._view.get(self._table, key)


def apply_writes(
    writes: Mapping[str, Mapping[str, Any]], tables: Mapping[str, dict[str, Any]]
) -> None:
    """Apply a batch's writes to plain-dict tables (what the worker does to its tables).

    Args:
        writes: From :attr:`StateView.writes`.
        tables: Table name → dict to update.
    """
    for name, keys in writes.items():
        table = tables[name]
        for key, value in keys.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
