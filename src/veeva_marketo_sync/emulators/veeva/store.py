"""The emulated org's state: one SQLite file with one table per object plus bookkeeping."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veeva_marketo_sync.emulators.veeva.errors import ApiError, invalid_type, not_found
from veeva_marketo_sync.emulators.veeva.ids import make_id, to_18
from veeva_marketo_sync.emulators.veeva.schema import (
    ACCOUNT_RECORD_TYPES,
    OBJECTS,
    PERSON_RECORD_TYPES,
    PREFIX_TO_OBJECT,
    SYSTEM_FIELD_NAMES,
    ObjectDef,
    get_object,
)
from veeva_marketo_sync.emulators.veeva.sqlgen import format_datetime, quote_ident, to_json_value
from veeva_marketo_sync.emulators.veeva.values import to_storage

DB_NAME = "veeva.sqlite3"
ORG_ID = "00D5g000000VEEVAEAV"
INTEGRATION_USERNAME = "integration@veeva.example"
INTEGRATION_PASSWORD = "password"  # noqa: S105 - emulator default, documented
INTEGRATION_TOKEN = "token"  # noqa: S105 - emulator default, documented
PERSON_USERNAME = "rep@veeva.example"
DEFAULT_CLIENT_ID = "vmsync-client"
DEFAULT_CLIENT_SECRET = "vmsync-secret"  # noqa: S105 - emulator default, documented
DEFAULT_API_LIMIT = 1_000_000

_META_SQL = """
CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS _sequences (object TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _credentials (
    username TEXT PRIMARY KEY COLLATE NOCASE, password TEXT, security_token TEXT, user_id TEXT);
CREATE TABLE IF NOT EXISTS _oauth_clients (
    client_id TEXT PRIMARY KEY, client_secret TEXT, user_id TEXT);
CREATE TABLE IF NOT EXISTS _sessions (token TEXT PRIMARY KEY, user_id TEXT, expires_at REAL);
CREATE TABLE IF NOT EXISTS _hidden_fields (object TEXT, field TEXT, PRIMARY KEY (object, field));
CREATE TABLE IF NOT EXISTS _validation_rules (
    name TEXT PRIMARY KEY, object TEXT, field TEXT, pattern TEXT, message TEXT);
CREATE TABLE IF NOT EXISTS _bulk_jobs (
    id TEXT PRIMARY KEY, operation TEXT, query TEXT, object TEXT, state TEXT,
    created_by TEXT, created_date TEXT, api_version TEXT, records INTEGER);
"""

INDEXES: tuple[tuple[str, str, str], ...] = tuple(
    (obj.name, f"ix_{obj.name}_{suffix}", cols)
    for obj in OBJECTS.values()
    for suffix, cols in (
        ("modstamp", "SystemModstamp, Id"),
        ("created", "CreatedDate"),
        *((("account", "Account_vod__c"),) if obj.field("Account_vod__c") is not None else ()),
    )
)


def table_sql(obj: ObjectDef) -> str:
    """``CREATE TABLE`` for one object."""
    cols = ", ".join(
        f"{quote_ident(f.name)} {f.sql_type}" + (" PRIMARY KEY" if f.name == "Id" else "")
        for f in obj.fields
    )
    return f"CREATE TABLE IF NOT EXISTS {quote_ident(obj.name)} ({cols})"


def create_indexes(conn: sqlite3.Connection) -> None:
    """Build the indexes a poller needs (after a bulk load, for speed)."""
    for table, name, cols in INDEXES:
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {quote_ident(name)} ON {quote_ident(table)} ({cols})"
        )


def drop_indexes(conn: sqlite3.Connection) -> None:
    """Drop the secondary indexes before a bulk load."""
    for _table, name, _cols in INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {quote_ident(name)}")


def utc_now() -> dt.datetime:
    """Now, truncated to the second as Salesforce stamps records."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def open_db(state_dir: Path) -> sqlite3.Connection:
    """Open (creating if needed) the state database with every table."""
    state_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(state_dir / DB_NAME, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_META_SQL)
    for obj in OBJECTS.values():
        conn.execute(table_sql(obj))
    return conn


def allocate_ids(conn: sqlite3.Connection, obj: ObjectDef, count: int) -> int:
    """Reserve ``count`` sequence numbers for ``obj``; return the first."""
    row = conn.execute("SELECT next FROM _sequences WHERE object = ?", (obj.name,)).fetchone()
    start = int(row[0]) if row else 1
    conn.execute(
        "INSERT INTO _sequences (object, next) VALUES (?, ?) "
        "ON CONFLICT(object) DO UPDATE SET next = excluded.next",
        (obj.name, start + count),
    )
    return start


def bootstrap(conn: sqlite3.Connection) -> None:
    """Create record types, the integration user, a person user and default credentials."""
    if conn.execute("SELECT value FROM _meta WHERE key = 'bootstrapped'").fetchone():
        return
    stamp = format_datetime(utc_now())
    user = OBJECTS["user"]
    start = allocate_ids(conn, user, 2)
    integration_id = make_id(user.key_prefix, start)
    person_id = make_id(user.key_prefix, start + 1)
    for uid, username, first, last, title in (
        (integration_id, INTEGRATION_USERNAME, "Integration", "User", "API Integration"),
        (person_id, PERSON_USERNAME, "Pat", "Rep", "Sales Representative"),
    ):
        conn.execute(
            'INSERT INTO "User" (Id, IsDeleted, CreatedDate, CreatedById, LastModifiedDate, '
            "LastModifiedById, SystemModstamp, Username, FirstName, LastName, Name, Email, "
            "Title, IsActive) VALUES (?,0,?,?,?,?,?,?,?,?,?,?,?,1)",
            (
                uid,
                stamp,
                integration_id,
                stamp,
                integration_id,
                stamp,
                username,
                first,
                last,
                f"{first} {last}",
                username,
                title,
            ),
        )
    rtype = OBJECTS["recordtype"]
    start = allocate_ids(conn, rtype, len(ACCOUNT_RECORD_TYPES))
    for offset, dev_name in enumerate(ACCOUNT_RECORD_TYPES):
        conn.execute(
            'INSERT INTO "RecordType" (Id, IsDeleted, CreatedDate, CreatedById, '
            "LastModifiedDate, LastModifiedById, SystemModstamp, Name, DeveloperName, "
            "SobjectType, IsActive) VALUES (?,0,?,?,?,?,?,?,?,'Account',1)",
            (
                make_id(rtype.key_prefix, start + offset),
                stamp,
                integration_id,
                stamp,
                integration_id,
                stamp,
                dev_name.removesuffix("_vod"),
                dev_name,
            ),
        )
    conn.execute(
        "INSERT INTO _credentials VALUES (?,?,?,?)",
        (INTEGRATION_USERNAME, INTEGRATION_PASSWORD, INTEGRATION_TOKEN, integration_id),
    )
    conn.execute(
        "INSERT INTO _oauth_clients VALUES (?,?,?)",
        (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, integration_id),
    )
    for key, value in (
        ("bootstrapped", "1"),
        ("integration_user_id", integration_id),
        ("person_user_id", person_id),
        ("api_limit", str(DEFAULT_API_LIMIT)),
        ("api_used", "0"),
        ("created_date", stamp),
    ):
        conn.execute("INSERT OR REPLACE INTO _meta VALUES (?,?)", (key, value))


@dataclass
class Locator:
    """An open query cursor that ``nextRecordsUrl`` continues."""

    conn: sqlite3.Connection
    cursor: sqlite3.Cursor
    sql: str
    params: list[Any]
    position: int
    total: int
    include_deleted: bool
    compiled: Any
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class ValidationRule:
    """A rule that fails a write when a field's new value matches ``pattern``."""

    name: str
    object: str
    field: str
    pattern: str
    message: str


class Store:
    """All state of one emulated org; safe to share between request threads."""

    LOCATOR_IDLE_SECONDS = 900.0
    MAX_LOCATORS = 50

    def __init__(self, state_dir: Path, *, session_lifetime: float = 7200.0) -> None:
        self.state_dir = state_dir
        self.lock = threading.RLock()
        self._tx_depth = 0
        self.conn = open_db(state_dir)
        with self.transaction():
            bootstrap(self.conn)
        create_indexes(self.conn)
        self.session_lifetime = session_lifetime
        self.locators: dict[str, Locator] = {}
        self.call_counts: Counter[str] = Counter()
        self.records_written: Counter[str] = Counter()
        self.api_used = int(self.meta("api_used") or 0)
        self.api_limit = int(self.meta("api_limit") or DEFAULT_API_LIMIT)
        self._hidden: dict[str, set[str]] = {}
        self._rules: list[ValidationRule] = []
        self.reload_config()

    # ---- plumbing -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block in one write transaction; nested blocks become savepoints."""
        with self.lock:
            depth = self._tx_depth
            self.conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT sp{depth}")
            self._tx_depth += 1
            try:
                yield self.conn
            except BaseException:
                self._tx_depth -= 1
                if depth == 0:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO sp{depth}")
                    self.conn.execute(f"RELEASE sp{depth}")
                raise
            self._tx_depth -= 1
            self.conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")

    def close(self) -> None:
        """Persist counters and close every connection."""
        with self.lock:
            self.set_meta("api_used", str(self.api_used))
            for loc in self.locators.values():
                loc.conn.close()
            self.locators.clear()
            self.conn.close()

    def meta(self, key: str) -> str | None:
        """Read a bookkeeping value."""
        with self.lock:
            row = self.conn.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Write a bookkeeping value."""
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO _meta VALUES (?,?)", (key, value))

    def reload_config(self) -> None:
        """Re-read hidden fields and validation rules from the database."""
        with self.lock:
            hidden: dict[str, set[str]] = {}
            for obj, fld in self.conn.execute("SELECT object, field FROM _hidden_fields"):
                hidden.setdefault(obj.lower(), set()).add(fld.lower())
            self._hidden = hidden
            self._rules = [
                ValidationRule(*row)
                for row in self.conn.execute(
                    "SELECT name, object, field, pattern, message FROM _validation_rules"
                )
            ]

    @property
    def hidden(self) -> dict[str, set[str]]:
        """Lower-case object -> lower-case hidden field names."""
        return self._hidden

    @property
    def integration_user_id(self) -> str:
        """Id of the integration user."""
        return self.meta("integration_user_id") or ""

    @property
    def person_user_id(self) -> str:
        """Id of the default non-integration user admin edits are made as."""
        return self.meta("person_user_id") or ""

    # ---- API usage ------------------------------------------------------------------------

    def count_api_call(self) -> None:
        """Count one API request against the daily allocation."""
        with self.lock:
            self.api_used += 1
            if self.api_used % 50 == 0:
                self.set_meta("api_used", str(self.api_used))

    def set_api_limit(self, limit: int, used: int | None = None) -> None:
        """Change the daily allocation (and optionally the used count)."""
        with self.lock:
            self.api_limit = limit
            if used is not None:
                self.api_used = used
            self.set_meta("api_limit", str(limit))
            self.set_meta("api_used", str(self.api_used))

    # ---- auth -----------------------------------------------------------------------------

    def check_password(self, username: str, password_and_token: str) -> str | None:
        """Return the user id when ``password_and_token`` is password + security token."""
        with self.lock:
            row = self.conn.execute(
                "SELECT password, security_token, user_id FROM _credentials WHERE username = ?",
                (username,),
            ).fetchone()
        if row is None:
            return None
        password, token, user_id = row
        ok = secrets.compare_digest(password_and_token, password + token) or secrets.compare_digest(
            password_and_token, password
        )
        return str(user_id) if ok else None

    def check_client(self, client_id: str, client_secret: str) -> str | None:
        """Return the run-as user id of an OAuth client with these credentials."""
        with self.lock:
            row = self.conn.execute(
                "SELECT client_secret, user_id FROM _oauth_clients WHERE client_id = ?",
                (client_id,),
            ).fetchone()
        if row is None or not secrets.compare_digest(client_secret, row[0]):
            return None
        return str(row[1])

    def set_credentials(self, username: str, password: str, security_token: str) -> str:
        """Create or change a login; creates its User when missing. Returns the user id."""
        with self.transaction() as conn:
            row = conn.execute(
                'SELECT Id FROM "User" WHERE Username = ? COLLATE NOCASE', (username,)
            ).fetchone()
            if row is None:
                user_id = self._insert_raw(
                    OBJECTS["user"],
                    {
                        "Username": username,
                        "LastName": username.split("@", maxsplit=1)[0],
                        "Name": username.split("@", maxsplit=1)[0],
                        "Email": username,
                        "IsActive": 1,
                    },
                    self.integration_user_id,
                )
            else:
                user_id = str(row[0])
            conn.execute(
                "INSERT OR REPLACE INTO _credentials VALUES (?,?,?,?)",
                (username, password, security_token, user_id),
            )
        return user_id

    def set_client(self, client_id: str, client_secret: str, username: str | None) -> None:
        """Create or change an OAuth client (run as ``username`` or the integration user)."""
        user_id = self.integration_user_id
        if username:
            user_id = self.user_id_for(username)
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO _oauth_clients VALUES (?,?,?)",
                (client_id, client_secret, user_id),
            )

    def user_id_for(self, username_or_id: str) -> str:
        """Resolve a username (or id) to a User id; raise NOT_FOUND."""
        with self.lock:
            row = self.conn.execute(
                'SELECT Id FROM "User" WHERE Username = ? COLLATE NOCASE OR Id = ?',
                (username_or_id, to_18(username_or_id)),
            ).fetchone()
        if row is None:
            raise not_found(f"no user {username_or_id}")
        return str(row[0])

    def new_session(self, user_id: str) -> str:
        """Open a session for ``user_id``; return its token."""
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO _sessions VALUES (?,?,?)",
                (token, user_id, time.time() + self.session_lifetime),
            )
        return token

    def session_user(self, token: str) -> str | None:
        """The user of a live session, or None when unknown or expired."""
        with self.lock:
            row = self.conn.execute(
                "SELECT user_id, expires_at FROM _sessions WHERE token = ?", (token,)
            ).fetchone()
        if row is None or float(row[1]) <= time.time():
            return None
        return str(row[0])

    def expire_sessions(self) -> int:
        """Invalidate every session; return how many there were."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM _sessions").rowcount

    # ---- configuration --------------------------------------------------------------------

    def set_hidden_fields(self, sobject: str, fields: list[str]) -> None:
        """Replace the fields of ``sobject`` the integration user may not see."""
        obj = self.object(sobject)
        for name in fields:
            fdef = obj.field(name)
            if fdef is None or fdef.name == "Id":
                raise ApiError(400, "INVALID_FIELD", f"cannot hide {name} on {obj.name}")
        with self.transaction() as conn:
            conn.execute("DELETE FROM _hidden_fields WHERE object = ?", (obj.name,))
            conn.executemany(
                "INSERT INTO _hidden_fields VALUES (?,?)",
                [(obj.name, obj.field(n).name) for n in fields],  # type: ignore[union-attr]
            )
        self.reload_config()

    def add_validation_rule(self, rule: ValidationRule) -> None:
        """Add (or replace) a validation rule."""
        obj = self.object(rule.object)
        fdef = obj.field(rule.field)
        if fdef is None:
            raise ApiError(400, "INVALID_FIELD", f"no field {rule.field} on {obj.name}")
        re.compile(rule.pattern)
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO _validation_rules VALUES (?,?,?,?,?)",
                (rule.name, obj.name, fdef.name, rule.pattern, rule.message),
            )
        self.reload_config()

    def clear_validation_rules(self) -> None:
        """Remove every validation rule."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM _validation_rules")
        self.reload_config()

    def validation_rules(self) -> list[ValidationRule]:
        """The active validation rules."""
        return list(self._rules)

    # ---- records ----------------------------------------------------------------------------

    def object(self, name: str) -> ObjectDef:
        """Look an object up; raise ``INVALID_TYPE`` (404 like the sObject resources)."""
        obj = get_object(name)
        if obj is None:
            err = invalid_type(name)
            err.status = 404
            err.error_code = "NOT_FOUND"
            err.message = "The requested resource does not exist"
            raise err
        return obj

    def object_for_id(self, record_id: str) -> ObjectDef | None:
        """The object an id's key prefix belongs to."""
        name = PREFIX_TO_OBJECT.get(record_id[:3])
        return None if name is None else get_object(name)

    def _check_fields(
        self,
        obj: ObjectDef,
        values: dict[str, Any],
        *,
        creating: bool,
        current: dict[str, Any] | None,
        as_api: bool,
    ) -> dict[str, Any]:
        hidden = self._hidden.get(obj.name.lower(), set()) if as_api else set()
        out: dict[str, Any] = {}
        readonly: list[str] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            fdef = obj.field(key)
            if fdef is None or fdef.name.lower() in hidden:
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"
                )
            if fdef.name == "Id" and not creating:
                continue
            allowed = fdef.createable if creating else fdef.updateable
            if obj.name == "Account" and fdef.name == "Name":
                is_person = (current or {}).get("IsPersonAccount") or (
                    creating and self._creating_person(values)
                )
                allowed = not is_person
            if as_api and not allowed:
                readonly.append(fdef.name)
                continue
            out[fdef.name] = to_storage(fdef, value)
        if readonly:
            raise ApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                readonly,
            )
        return out

    def _record_type_name(self, record_type_id: str | None) -> str | None:
        if not record_type_id:
            return None
        row = self.conn.execute(
            'SELECT DeveloperName FROM "RecordType" WHERE Id = ?', (to_18(record_type_id),)
        ).fetchone()
        return None if row is None else str(row[0])

    def record_type_id(self, developer_name: str) -> str:
        """Id of an Account record type by developer name."""
        with self.lock:
            row = self.conn.execute(
                'SELECT Id FROM "RecordType" WHERE DeveloperName = ?', (developer_name,)
            ).fetchone()
        if row is None:
            raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", f"no record type {developer_name}")
        return str(row[0])

    def _creating_person(self, values: dict[str, Any]) -> bool:
        lowered = {k.lower(): v for k, v in values.items()}
        rt_name = self._record_type_name(lowered.get("recordtypeid"))
        if rt_name is not None:
            return rt_name in PERSON_RECORD_TYPES
        return "name" not in lowered and "lastname" in lowered

    def _apply_rules(self, obj: ObjectDef, merged: dict[str, Any]) -> None:
        for rule in self._rules:
            if rule.object != obj.name:
                continue
            value = merged.get(rule.field)
            if value is not None and re.search(rule.pattern, str(value)):
                raise ApiError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, [rule.field])

    def _derive(self, obj: ObjectDef, row: dict[str, Any]) -> None:
        if obj.name == "Account" and row.get("IsPersonAccount"):
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        if obj.name == "User":
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)

    def _insert_raw(self, obj: ObjectDef, row: dict[str, Any], user_id: str) -> str:
        seq = allocate_ids(self.conn, obj, 1)
        stamp = format_datetime(utc_now())
        full: dict[str, Any] = {f.name: None for f in obj.fields}
        for fdef in obj.fields:
            if fdef.type == "boolean":
                full[fdef.name] = 0
        full.update(row)
        full.update(
            Id=make_id(obj.key_prefix, seq),
            IsDeleted=0,
            CreatedDate=stamp,
            CreatedById=user_id,
            LastModifiedDate=stamp,
            LastModifiedById=user_id,
            SystemModstamp=stamp,
        )
        if obj.autonumber_format:
            full["Name"] = obj.autonumber_format.format(seq)
        if obj.field("OwnerId") is not None and not full.get("OwnerId"):
            full["OwnerId"] = user_id
        cols = ", ".join(quote_ident(k) for k in full)
        marks = ", ".join("?" for _ in full)
        self.conn.execute(
            f"INSERT INTO {quote_ident(obj.name)} ({cols}) VALUES ({marks})", list(full.values())
        )
        self.records_written[obj.name] += 1
        return str(full["Id"])

    def _fetch_raw(self, obj: ObjectDef, record_id: str) -> dict[str, Any] | None:
        cur = self.conn.execute(
            f"SELECT * FROM {quote_ident(obj.name)} WHERE Id = ?", (to_18(record_id),)
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def create(
        self,
        sobject: str,
        values: dict[str, Any],
        user_id: str,
        *,
        as_api: bool = True,
        validate: bool = True,
    ) -> str:
        """Insert a record as ``user_id``; return its id."""
        obj = self.object(sobject)
        with self.lock:
            row = self._check_fields(obj, values, creating=True, current=None, as_api=as_api)
            row.pop("Id", None)
            if obj.name == "Account":
                person = self._creating_person(values)
                if "RecordTypeId" not in row:
                    row["RecordTypeId"] = self.record_type_id(
                        "Professional_vod" if person else "Hospital_vod"
                    )
                row["IsPersonAccount"] = int(person)
                if person:
                    if not row.get("LastName"):
                        raise ApiError(
                            400,
                            "REQUIRED_FIELD_MISSING",
                            "Required fields are missing: [LastName]",
                            ["LastName"],
                        )
                    seq = allocate_ids(self.conn, OBJECTS["account"], 0)
                    row["PersonContactId"] = make_id("003", seq)
                elif not row.get("Name"):
                    raise ApiError(
                        400,
                        "REQUIRED_FIELD_MISSING",
                        "Required fields are missing: [Name]",
                        ["Name"],
                    )
            for fdef in obj.fields:
                if (
                    not fdef.nillable
                    and fdef.type not in ("boolean",)
                    and fdef.name not in SYSTEM_FIELD_NAMES
                    and fdef.name not in ("Name", "OwnerId", "IsPersonAccount")
                    and row.get(fdef.name) is None
                ):
                    raise ApiError(
                        400,
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{fdef.name}]",
                        [fdef.name],
                    )
            self._derive(obj, row)
            if validate:
                self._apply_rules(obj, row)
            with self.transaction():
                return self._insert_raw(obj, row, user_id)

    def update(
        self,
        sobject: str,
        record_id: str,
        values: dict[str, Any],
        user_id: str,
        *,
        as_api: bool = True,
        validate: bool = True,
    ) -> None:
        """Change fields of a live record as ``user_id``; bump its timestamps."""
        obj = self.object(sobject)
        with self.lock:
            current = self._fetch_raw(obj, record_id)
            if current is None:
                raise not_found(
                    "Provided external ID field does not exist or is not accessible: " + record_id
                )
            if current["IsDeleted"]:
                raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
            changes = self._check_fields(
                obj, values, creating=False, current=current, as_api=as_api
            )
            merged = {**current, **changes}
            self._derive(obj, merged)
            if validate:
                self._apply_rules(obj, merged)
            stamp = format_datetime(utc_now())
            merged.update(LastModifiedDate=stamp, SystemModstamp=stamp, LastModifiedById=user_id)
            sets = {k: v for k, v in merged.items() if current.get(k) != v or k in changes}
            sets.pop("Id", None)
            assignments = ", ".join(f"{quote_ident(k)} = ?" for k in sets)
            with self.transaction() as conn:
                conn.execute(
                    f"UPDATE {quote_ident(obj.name)} SET {assignments} WHERE Id = ?",
                    [*sets.values(), current["Id"]],
                )
            self.records_written[obj.name] += 1

    def set_deleted(self, sobject: str, record_id: str, user_id: str, *, deleted: bool) -> None:
        """Soft-delete (Recycle Bin) or undelete a record as ``user_id``."""
        obj = self.object(sobject)
        with self.lock:
            current = self._fetch_raw(obj, record_id)
            if current is None:
                raise not_found("The requested resource does not exist")
            if bool(current["IsDeleted"]) == deleted:
                if deleted:
                    raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
                raise ApiError(400, "UNDELETE_FAILED", "Entity is not in the recycle bin")
            stamp = format_datetime(utc_now())
            with self.transaction() as conn:
                conn.execute(
                    f"UPDATE {quote_ident(obj.name)} SET IsDeleted = ?, SystemModstamp = ?, "
                    "LastModifiedDate = ?, LastModifiedById = ? WHERE Id = ?",
                    (int(deleted), stamp, stamp, user_id, current["Id"]),
                )
            self.records_written[obj.name] += 1

    def get(
        self,
        sobject: str,
        record_id: str,
        *,
        as_api: bool = True,
        include_deleted: bool = False,
        fields: list[str] | None = None,
    ) -> dict[str, Any]:
        """One record as JSON values (hidden fields omitted for the API); raise NOT_FOUND."""
        obj = self.object(sobject)
        with self.lock:
            current = self._fetch_raw(obj, record_id)
        if current is None or (current["IsDeleted"] and not include_deleted):
            raise not_found()
        hidden = self._hidden.get(obj.name.lower(), set()) if as_api else set()
        wanted = None if fields is None else {f.lower() for f in fields}
        out: dict[str, Any] = {}
        for fdef in obj.fields:
            if fdef.name.lower() in hidden:
                continue
            if wanted is not None and fdef.name.lower() not in wanted:
                continue
            out[fdef.name] = to_json_value(fdef, current[fdef.name])
        return out

    def dump(self, sobject: str, *, limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
        """Every field of up to ``limit`` rows, deleted ones included (admin view)."""
        obj = self.object(sobject)
        with self.lock:
            cur = self.conn.execute(
                f"SELECT * FROM {quote_ident(obj.name)} ORDER BY rowid LIMIT ? OFFSET ?",
                (limit, offset),
            )
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return [
            {n: to_json_value(obj.field(n), v) for n, v in zip(names, row, strict=True)}  # type: ignore[arg-type]
            for row in rows
        ]

    def count(self, sobject: str) -> dict[str, int]:
        """Live and deleted row counts of an object."""
        obj = self.object(sobject)
        with self.lock:
            live, deleted = self.conn.execute(
                f"SELECT COALESCE(SUM(IsDeleted = 0), 0), COALESCE(SUM(IsDeleted = 1), 0) "
                f"FROM {quote_ident(obj.name)}"
            ).fetchone()
        return {"live": int(live), "deleted": int(deleted)}
