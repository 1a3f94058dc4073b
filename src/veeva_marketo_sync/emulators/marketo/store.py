"""SQLite state of the emulated Marketo instance; everything survives a restart."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

from veeva_marketo_sync.emulators.marketo.fields import (
    STANDARD_LEAD_FIELDS,
    FieldDef,
    index_key,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credentials (
    client_id TEXT PRIMARY KEY, client_secret TEXT NOT NULL, scope TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS lead_fields (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
    data_type TEXT NOT NULL, length INTEGER, read_only INTEGER NOT NULL, custom INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leads (
    id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lead_index (
    field TEXT NOT NULL, value TEXT NOT NULL, lead_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS lead_index_lookup ON lead_index (field, value);
CREATE INDEX IF NOT EXISTS lead_index_lead ON lead_index (lead_id);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT, type_id INTEGER NOT NULL, lead_id INTEGER NOT NULL,
    activity_date TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS co_types (name TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS co_records (
    guid TEXT PRIMARY KEY, type TEXT NOT NULL, dedupe_key TEXT NOT NULL, data TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (type, dedupe_key));
CREATE TABLE IF NOT EXISTS co_index (
    type TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, guid TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS co_index_lookup ON co_index (type, field, value);
CREATE INDEX IF NOT EXISTS co_index_guid ON co_index (guid);
CREATE TABLE IF NOT EXISTS counters (
    kind TEXT NOT NULL, key TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (kind, key));
"""

DB_FILE = "marketo.sqlite3"


class Store:
    """All persistent state, behind one SQLite connection guarded by a lock."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(state_dir / DB_FILE, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            self._conn.executescript(_SCHEMA)
        if not self._conn.execute("SELECT 1 FROM lead_fields LIMIT 1").fetchone():
            for field in STANDARD_LEAD_FIELDS:
                self.add_lead_field(field)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock, self._conn:
            return self._conn.execute(sql, params)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # --- settings and credentials ---

    def get_setting(self, key: str) -> Any:
        """Return a JSON setting, or None when unset."""
        rows = self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON setting."""
        self._write(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def set_credentials(self, client_id: str, client_secret: str, scope: str) -> None:
        """Register (or replace) a LaunchPoint service's client id and secret."""
        self._write(
            "INSERT INTO credentials VALUES (?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET "
            "client_secret = excluded.client_secret, scope = excluded.scope",
            (client_id, client_secret, scope),
        )

    def remove_credentials(self, client_id: str) -> None:
        """Forget a client id and its tokens."""
        self._write("DELETE FROM credentials WHERE client_id = ?", (client_id,))
        self._write("DELETE FROM tokens WHERE client_id = ?", (client_id,))

    def credentials(self, client_id: str) -> tuple[str, str] | None:
        """Return (secret, scope) for a client id."""
        rows = self._read(
            "SELECT client_secret, scope FROM credentials WHERE client_id = ?", (client_id,)
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def live_token(self, client_id: str, now: float) -> tuple[str, float] | None:
        """Return the client's unexpired token and its expiry, if any."""
        rows = self._read(
            "SELECT token, expires_at FROM tokens WHERE client_id = ? AND expires_at > ? "
            "ORDER BY expires_at DESC LIMIT 1",
            (client_id, now),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def issue_token(self, client_id: str, expires_at: float) -> str:
        """Create a new token shaped like Marketo's (`uuid:pod`)."""
        token = f"{uuid.uuid4()}:ab"
        self._write("INSERT INTO tokens VALUES (?, ?, ?)", (token, client_id, expires_at))
        return token

    def token_expiry(self, token: str) -> float | None:
        """Return when a token expires, or None if it was never issued."""
        rows = self._read("SELECT expires_at FROM tokens WHERE token = ?", (token,))
        return float(rows[0][0]) if rows else None

    def expire_tokens(self, now: float) -> int:
        """Expire every live token now; return how many were live."""
        return self._write(
            "UPDATE tokens SET expires_at = ? WHERE expires_at > ?", (now, now)
        ).rowcount

    # --- lead schema ---

    def lead_fields(self) -> dict[str, FieldDef]:
        """Return the lead schema in creation order."""
        rows = self._read(
            "SELECT id, name, display_name, data_type, length, read_only, custom "
            "FROM lead_fields ORDER BY id"
        )
        return {
            row[1]: FieldDef(
                field_id=row[0],
                name=row[1],
                display_name=row[2],
                data_type=row[3],
                length=row[4],
                read_only=bool(row[5]),
                custom=bool(row[6]),
            )
            for row in rows
        }

    def add_lead_field(self, field: FieldDef) -> None:
        """Add a field to the lead schema (replacing a field of the same name)."""
        self._write("DELETE FROM lead_fields WHERE name = ?", (field.name,))
        self._write(
            "INSERT INTO lead_fields (name, display_name, data_type, length, read_only, custom) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                field.name,
                field.display_name,
                field.data_type,
                field.length,
                int(field.read_only),
                int(field.custom),
            ),
        )

    def remove_lead_field(self, name: str) -> bool:
        """Remove a field from the lead schema; stored values stay hidden."""
        return self._write("DELETE FROM lead_fields WHERE name = ?", (name,)).rowcount > 0

    # --- leads ---

    def _reindex_lead(self, lead_id: int, data: dict[str, Any]) -> None:
        self._conn.execute("DELETE FROM lead_index WHERE lead_id = ?", (lead_id,))
        self._conn.executemany(
            "INSERT INTO lead_index VALUES (?, ?, ?)",
            [(k, index_key(v), lead_id) for k, v in data.items() if v is not None],
        )

    def insert_lead(self, data: dict[str, Any], now: str) -> int:
        """Create a lead and return its id."""
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO leads (data, created_at, updated_at) VALUES (?, ?, ?)",
                (json.dumps(data), now, now),
            )
            lead_id = int(cursor.lastrowid or 0)
            self._reindex_lead(lead_id, data)
            return lead_id

    def update_lead(self, lead_id: int, data: dict[str, Any], now: str) -> None:
        """Replace a lead's field values."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE leads SET data = ?, updated_at = ? WHERE id = ?",
                (json.dumps(data), now, lead_id),
            )
            self._reindex_lead(lead_id, data)

    def delete_lead(self, lead_id: int) -> bool:
        """Delete a lead; return whether it existed."""
        with self._lock, self._conn:
            gone = self._conn.execute("DELETE FROM leads WHERE id = ?", (lead_id,)).rowcount
            self._conn.execute("DELETE FROM lead_index WHERE lead_id = ?", (lead_id,))
            return gone > 0

    def lead_data(self, lead_id: int) -> tuple[dict[str, Any], str, str] | None:
        """Return (stored values, createdAt, updatedAt) of a lead."""
        rows = self._read("SELECT data, created_at, updated_at FROM leads WHERE id = ?", (lead_id,))
        if not rows:
            return None
        return json.loads(rows[0][0]), rows[0][1], rows[0][2]

    def find_leads(self, field: str, value: Any) -> list[int]:
        """Return ids of leads whose `field` equals `value` (case-insensitive), by id."""
        if field == "id":
            rows = self._read("SELECT id FROM leads WHERE id = ?", (value,))
        else:
            rows = self._read(
                "SELECT DISTINCT lead_id FROM lead_index WHERE field = ? AND value = ? "
                "ORDER BY lead_id",
                (field, index_key(value)),
            )
        return [int(row[0]) for row in rows]

    def lead_ids(self, limit: int) -> list[int]:
        """Return up to `limit` lead ids, oldest first."""
        return [
            int(row[0]) for row in self._read("SELECT id FROM leads ORDER BY id LIMIT ?", (limit,))
        ]

    def co_guids(self, type_name: str, limit: int) -> list[str]:
        """Return up to `limit` record GUIDs of a type, oldest first."""
        rows = self._read(
            "SELECT guid FROM co_records WHERE type = ? ORDER BY created_at, rowid LIMIT ?",
            (type_name, limit),
        )
        return [str(row[0]) for row in rows]

    def lead_count(self) -> int:
        """Return how many leads exist."""
        return int(self._read("SELECT COUNT(*) FROM leads")[0][0])

    # --- activities ---

    def add_activity(self, type_id: int, lead_id: int, when: str, body: dict[str, Any]) -> int:
        """Append an activity and return its id."""
        cursor = self._write(
            "INSERT INTO activities (type_id, lead_id, activity_date, body) VALUES (?, ?, ?, ?)",
            (type_id, lead_id, when, json.dumps(body)),
        )
        return int(cursor.lastrowid or 0)

    def activities_after(
        self, position: int, limit: int
    ) -> list[tuple[int, int, int, str, dict[str, Any]]]:
        """Return up to `limit` activities with id > position, in id order."""
        rows = self._read(
            "SELECT id, type_id, lead_id, activity_date, body FROM activities "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (position, limit),
        )
        return [(row[0], row[1], row[2], row[3], json.loads(row[4])) for row in rows]

    def last_activity_before(self, when: str) -> int:
        """Return the id of the last activity dated before `when` (0 if none)."""
        rows = self._read(
            "SELECT COALESCE(MAX(id), 0) FROM activities WHERE activity_date < ?", (when,)
        )
        return int(rows[0][0])

    def has_activity_after(self, position: int) -> bool:
        """Return whether any activity has an id greater than position."""
        return bool(self._read("SELECT 1 FROM activities WHERE id > ? LIMIT 1", (position,)))

    # --- custom objects ---

    def co_types(self) -> dict[str, dict[str, Any]]:
        """Return every custom object type definition by API name."""
        rows = self._read("SELECT name, definition FROM co_types ORDER BY name")
        return {row[0]: json.loads(row[1]) for row in rows}

    def put_co_type(self, name: str, definition: dict[str, Any]) -> None:
        """Create or replace a custom object type."""
        self._write(
            "INSERT INTO co_types VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition",
            (name, json.dumps(definition)),
        )

    def remove_co_type(self, name: str) -> bool:
        """Remove a custom object type and its records."""
        with self._lock, self._conn:
            gone = self._conn.execute("DELETE FROM co_types WHERE name = ?", (name,)).rowcount
            self._conn.execute("DELETE FROM co_records WHERE type = ?", (name,))
            self._conn.execute("DELETE FROM co_index WHERE type = ?", (name,))
            return gone > 0

    def co_find(self, type_name: str, dedupe_key: str) -> str | None:
        """Return the GUID of the record with this dedupe key."""
        rows = self._read(
            "SELECT guid FROM co_records WHERE type = ? AND dedupe_key = ?", (type_name, dedupe_key)
        )
        return str(rows[0][0]) if rows else None

    def co_get(self, type_name: str, guid: str) -> tuple[dict[str, Any], str, str] | None:
        """Return (values, createdAt, updatedAt) of a record."""
        rows = self._read(
            "SELECT data, created_at, updated_at FROM co_records WHERE type = ? AND guid = ?",
            (type_name, guid),
        )
        if not rows:
            return None
        return json.loads(rows[0][0]), rows[0][1], rows[0][2]

    def co_save(
        self, type_name: str, guid: str | None, dedupe_key: str, data: dict[str, Any], now: str
    ) -> str:
        """Insert (guid None) or update a record; return its GUID."""
        with self._lock, self._conn:
            if guid is None:
                guid = str(uuid.uuid4())
                self._conn.execute(
                    "INSERT INTO co_records VALUES (?, ?, ?, ?, ?, ?)",
                    (guid, type_name, dedupe_key, json.dumps(data), now, now),
                )
            else:
                self._conn.execute(
                    "UPDATE co_records SET data = ?, dedupe_key = ?, updated_at = ? WHERE guid = ?",
                    (json.dumps(data), dedupe_key, now, guid),
                )
            self._conn.execute("DELETE FROM co_index WHERE guid = ?", (guid,))
            self._conn.executemany(
                "INSERT INTO co_index VALUES (?, ?, ?, ?)",
                [(type_name, k, index_key(v), guid) for k, v in data.items() if v is not None],
            )
            return guid

    def co_delete(self, type_name: str, guid: str) -> bool:
        """Delete a record; return whether it existed."""
        with self._lock, self._conn:
            gone = self._conn.execute(
                "DELETE FROM co_records WHERE type = ? AND guid = ?", (type_name, guid)
            ).rowcount
            self._conn.execute("DELETE FROM co_index WHERE guid = ?", (guid,))
            return gone > 0

    def co_search(self, type_name: str, field: str, value: Any) -> list[str]:
        """Return GUIDs of records whose `field` equals `value`, oldest first."""
        rows = self._read(
            "SELECT i.guid FROM co_index i JOIN co_records r ON r.guid = i.guid "
            "WHERE i.type = ? AND i.field = ? AND i.value = ? ORDER BY r.created_at, r.rowid",
            (type_name, field, index_key(value)),
        )
        return [str(row[0]) for row in rows]

    def co_count(self, type_name: str) -> int:
        """Return how many records a custom object type holds."""
        rows = self._read("SELECT COUNT(*) FROM co_records WHERE type = ?", (type_name,))
        return int(rows[0][0])

    # --- counters ---

    def bump(self, kind: str, key: str, amount: int = 1) -> None:
        """Add to a counter."""
        self._write(
            "INSERT INTO counters VALUES (?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET value = value + excluded.value",
            (kind, key, amount),
        )

    def counter(self, kind: str, key: str) -> int:
        """Return one counter's value (0 when never bumped)."""
        rows = self._read("SELECT value FROM counters WHERE kind = ? AND key = ?", (kind, key))
        return int(rows[0][0]) if rows else 0

    def counters(self) -> dict[str, dict[str, int]]:
        """Return all counters grouped by kind."""
        grouped: dict[str, dict[str, int]] = {}
        for kind, key, value in self._read("SELECT kind, key, value FROM counters ORDER BY 1, 2"):
            grouped.setdefault(kind, {})[key] = int(value)
        return grouped

    def reset_counters(self) -> None:
        """Zero every counter (including today's quota usage)."""
        self._write("DELETE FROM counters")

    def wipe(self) -> None:
        """Delete all leads, activities and custom object records (schema and settings stay)."""
        with self._lock, self._conn:
            for table in (
                "leads",
                "lead_index",
                "activities",
                "co_records",
                "co_index",
                "counters",
            ):
                self._conn.execute(f"DELETE FROM {table}")
