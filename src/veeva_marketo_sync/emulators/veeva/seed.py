"""Deterministic bulk seed data written straight into the emulator's SQLite file."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from veeva_marketo_sync.emulators.veeva.ids import make_id
from veeva_marketo_sync.emulators.veeva.schema import (
    CALL_TYPES,
    CREDENTIALS,
    DELIVERY_METHODS,
    INQUIRY_STATUSES,
    KEY_MESSAGE_CATEGORIES,
    OBJECTS,
    REACTIONS,
    SALUTATIONS,
    SPECIALTIES,
    ObjectDef,
)
from veeva_marketo_sync.emulators.veeva.sqlgen import quote_ident
from veeva_marketo_sync.emulators.veeva.store import (
    allocate_ids,
    bootstrap,
    create_indexes,
    drop_indexes,
    open_db,
    utc_now,
)

_CHUNK = 20_000
_FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Donald",
    "Emily",
    "Steven",
    "Kimberly",
    "Paul",
    "Donna",
    "Andrew",
    "Michelle",
    "Joshua",
    "Carol",
    "Kenneth",
    "Amanda",
    "Kevin",
    "Melissa",
    "Brian",
    "Deborah",
    "George",
    "Stephanie",
    "Timothy",
    "Rebecca",
    "Ronald",
    "Laura",
    "Jason",
    "Helen",
    "Edward",
    "Sharon",
    "Jeffrey",
    "Cynthia",
    "Ryan",
    "Kathleen",
    "Jacob",
    "Amy",
    "Gary",
    "Angela",
    "Nicholas",
    "Shirley",
    "Eric",
    "Anna",
    "Jonathan",
    "Brenda",
    "Stephen",
    "Pamela",
    "Larry",
    "Emma",
    "Justin",
    "Nicole",
    "Scott",
    "Samantha",
    "Brandon",
    "Katherine",
    "Benjamin",
    "Christine",
    "Samuel",
    "Debra",
    "Gregory",
    "Rachel",
    "Priya",
    "Wei",
    "Hiroshi",
    "Fatima",
    "Mohammed",
    "Ana",
    "Luis",
    "Sofia",
    "Mateo",
    "Olga",
    "Ivan",
    "Aisha",
    "Chen",
    "Raj",
]
_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Shah",
    "Okafor",
    "Kowalski",
]
_CITIES = (
    ("Boston", "MA", "021"),
    ("New York", "NY", "100"),
    ("Philadelphia", "PA", "191"),
    ("Chicago", "IL", "606"),
    ("Houston", "TX", "770"),
    ("Phoenix", "AZ", "850"),
    ("San Diego", "CA", "921"),
    ("Dallas", "TX", "752"),
    ("Seattle", "WA", "981"),
    ("Denver", "CO", "802"),
    ("Atlanta", "GA", "303"),
    ("Miami", "FL", "331"),
    ("Minneapolis", "MN", "554"),
    ("Nashville", "TN", "372"),
    ("Portland", "OR", "972"),
    ("Raleigh", "NC", "276"),
    ("Columbus", "OH", "432"),
    ("Baltimore", "MD", "212"),
)
_STREETS = (
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Park Blvd",
    "Elm St",
    "Hospital Rd",
    "Medical Center Dr",
    "Washington Ave",
    "Lake St",
    "Hill Rd",
    "River Rd",
)
_TITLES = (
    "Attending Physician",
    "Chief of Cardiology",
    "Staff Physician",
    "Clinical Director",
    "Resident",
    "Nurse Practitioner",
    "Department Head",
    "Consultant",
    None,
)
_DOMAINS = ("example-health.org", "example-clinic.com", "mail.example.net", "hospital.example")
_HCO_KINDS = (
    ("Hospital_vod", "General Hospital"),
    ("Pharmacy_vod", "Pharmacy"),
    ("Practice_vod", "Medical Group"),
)
_PRODUCTS = ("Cardiozan", "Oncovir", "Neurolex", "Dermaclear", "Pedimax", "Psychora")
_INQUIRIES = (
    "What is the recommended dose adjustment for renal impairment?",
    "Are there data on use during pregnancy?",
    "Please send the latest phase III efficacy results.",
    "What interactions are known with anticoagulants?",
    "Is there a patient assistance program available?",
)


@dataclass
class SeedReport:
    """What a seed run wrote and how long it took."""

    person_accounts: int = 0
    business_accounts: int = 0
    users: int = 0
    key_messages: int = 0
    calls: int = 0
    call_key_messages: int = 0
    medical_inquiries: int = 0
    seconds: float = 0.0
    now: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


class _Clock:
    """Fast ``YYYY-MM-DDThh:mm:ss.000Z`` strings for seconds before ``now``."""

    def __init__(self, now: dt.datetime, days: int) -> None:
        self.now = now
        self.now_epoch = int(now.timestamp())
        self.days = {
            d: (now - dt.timedelta(days=d)).date().isoformat() for d in range(-1, days + 2)
        }
        self.tod = [
            f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        ]
        self.midnight = int(dt.datetime.combine(now.date(), dt.time(), dt.UTC).timestamp())

    def stamp(self, seconds_ago: int) -> str:
        epoch = self.now_epoch - seconds_ago
        day_index, tod = divmod(epoch - self.midnight, 86_400)
        return f"{self.days[-day_index]}T{self.tod[tod]}.000Z"

    def date(self, seconds_ago: int) -> str:
        epoch = self.now_epoch - seconds_ago
        return self.days[-((epoch - self.midnight) // 86_400)]


def _columns(obj: ObjectDef, names: Sequence[str]) -> str:
    cols = ", ".join(quote_ident(n) for n in names)
    marks = ", ".join("?" for _ in names)
    return f"INSERT INTO {quote_ident(obj.name)} ({cols}) VALUES ({marks})"


def _load(conn: sqlite3.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> int:
    total = 0
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            conn.executemany(sql, chunk)
            total += len(chunk)
            chunk = []
    if chunk:
        conn.executemany(sql, chunk)
        total += len(chunk)
    return total


_SYS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)
_ACCOUNT_COLS = (
    *_SYS,
    "Name",
    "IsPersonAccount",
    "PersonContactId",
    "RecordTypeId",
    "OwnerId",
    "FirstName",
    "LastName",
    "Salutation",
    "PersonEmail",
    "Phone",
    "PersonMobilePhone",
    "PersonTitle",
    "PersonMailingStreet",
    "PersonMailingCity",
    "PersonMailingState",
    "PersonMailingPostalCode",
    "PersonMailingCountry",
    "PersonHasOptedOutOfEmail",
    "PersonDoNotCall",
    "Specialty_1_vod__c",
    "Credentials_vod__c",
    "NPI_vod__c",
    "Primary_Parent_vod__c",
)


class _Seeder:
    def __init__(self, conn: sqlite3.Connection, rng: random.Random, clock: _Clock) -> None:
        self.conn = conn
        self.rng = rng
        self.clock = clock
        self.integration = str(
            conn.execute("SELECT value FROM _meta WHERE key = 'integration_user_id'").fetchone()[0]
        )
        self.record_types = dict(
            conn.execute('SELECT DeveloperName, Id FROM "RecordType"').fetchall()
        )

    def ids(self, obj: ObjectDef, count: int) -> list[str]:
        start = allocate_ids(self.conn, obj, count)
        return [make_id(obj.key_prefix, start + i) for i in range(count)]

    def times(self, max_age: int) -> tuple[str, str, int]:
        """Created stamp, modified stamp and created age (seconds) of one record."""
        rng = self.rng
        created_ago = 86_400 + int(rng.random() * (max_age - 86_400))
        modified_ago = int(created_ago * rng.random() * rng.random())
        return self.clock.stamp(created_ago), self.clock.stamp(modified_ago), created_ago

    def users(self, count: int) -> list[str]:
        obj = OBJECTS["user"]
        ids = self.ids(obj, count)
        cols = (
            *_SYS,
            "Username",
            "FirstName",
            "LastName",
            "Name",
            "Email",
            "Title",
            "Phone",
            "IsActive",
        )
        rng = self.rng
        rows = []
        for i, uid in enumerate(ids):
            first = _FIRST[int(rng.random() * len(_FIRST))]
            last = _LAST[int(rng.random() * len(_LAST))]
            created, modified, _ = self.times(800 * 86_400)
            username = f"{first}.{last}.{i}@veeva-pharma.example".lower()
            rows.append(
                (
                    uid,
                    0,
                    created,
                    self.integration,
                    modified,
                    self.integration,
                    modified,
                    username,
                    first,
                    last,
                    f"{first} {last}",
                    username,
                    "Sales Representative",
                    f"+1 555 01{i % 100:02d} {i % 10000:04d}",
                    1,
                )
            )
        _load(self.conn, _columns(obj, cols), rows)
        return ids

    def business_accounts(self, count: int, owners: list[str]) -> list[str]:
        obj = OBJECTS["account"]
        ids = self.ids(obj, count)
        rng = self.rng

        def rows() -> Iterator[tuple[Any, ...]]:
            for aid in ids:
                kind, suffix = _HCO_KINDS[int(rng.random() * len(_HCO_KINDS))]
                city, state, zip3 = _CITIES[int(rng.random() * len(_CITIES))]
                created, modified, _ = self.times(730 * 86_400)
                owner = owners[int(rng.random() * len(owners))]
                name = f"{_LAST[int(rng.random() * len(_LAST))]} {city} {suffix}"
                yield (
                    aid,
                    0,
                    created,
                    owner,
                    modified,
                    owner,
                    modified,
                    name,
                    0,
                    None,
                    self.record_types[kind],
                    owner,
                    None,
                    None,
                    None,
                    None,
                    f"+1 555 {int(rng.random() * 1000):03d} {int(rng.random() * 10000):04d}",
                    None,
                    None,
                    None,
                    city,
                    state,
                    f"{zip3}{int(rng.random() * 100):02d}",
                    "United States",
                    0,
                    0,
                    None,
                    None,
                    None,
                    None,
                )

        _load(self.conn, _columns(obj, _ACCOUNT_COLS), rows())
        return ids

    def person_accounts(self, count: int, owners: list[str], parents: list[str]) -> list[str]:
        obj = OBJECTS["account"]
        start = allocate_ids(self.conn, obj, count)
        rng = self.rng
        professional = self.record_types["Professional_vod"]
        board = self.record_types["Board_vod"]
        stamp = self.clock.stamp
        n_first, n_last, n_city = len(_FIRST), len(_LAST), len(_CITIES)
        professionals: list[str] = []

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(count):
                seq = start + i
                aid = make_id("001", seq)
                r = rng.random
                first = _FIRST[int(r() * n_first)]
                last = _LAST[int(r() * n_last)]
                city, state, zip3 = _CITIES[int(r() * n_city)]
                created_ago = 86_400 + int(r() * 63_072_000)
                modified_ago = int(created_ago * r() * r())
                created = stamp(created_ago)
                modified = stamp(modified_ago)
                owner = owners[int(r() * len(owners))]
                is_board = r() < 0.08
                if not is_board:
                    professionals.append(aid)
                phone_tail = f"{int(r() * 1000):03d} {int(r() * 10000):04d}"
                yield (
                    aid,
                    0,
                    created,
                    owner,
                    modified,
                    owner,
                    modified,
                    f"{first} {last}",
                    1,
                    make_id("003", seq),
                    board if is_board else professional,
                    owner,
                    first,
                    last,
                    "Dr." if r() < 0.8 else SALUTATIONS[int(r() * len(SALUTATIONS))],
                    f"{first}.{last}.{seq}@{_DOMAINS[seq % len(_DOMAINS)]}".lower(),
                    f"+1 555 {phone_tail}",
                    f"+1 555 9{phone_tail}" if r() < 0.6 else None,
                    _TITLES[int(r() * len(_TITLES))],
                    f"{100 + int(r() * 9800)} {_STREETS[int(r() * len(_STREETS))]}",
                    city,
                    state,
                    f"{zip3}{int(r() * 100):02d}",
                    "United States",
                    int(r() < 0.05),
                    int(r() < 0.03),
                    SPECIALTIES[int(r() * len(SPECIALTIES))],
                    "MD" if r() < 0.7 else CREDENTIALS[int(r() * len(CREDENTIALS))],
                    f"{1_000_000_000 + seq * 7:010d}"[-10:],
                    parents[int(r() * len(parents))] if parents and r() < 0.5 else None,
                )

        _load(self.conn, _columns(obj, _ACCOUNT_COLS), rows())
        return professionals

    def key_messages(self, count: int, owner: str) -> list[tuple[str, str, str]]:
        obj = OBJECTS["key_message_vod__c"]
        ids = self.ids(obj, count)
        out = []
        rows = []
        for i, kid in enumerate(ids):
            product = _PRODUCTS[i % len(_PRODUCTS)]
            category = KEY_MESSAGE_CATEGORIES[i % len(KEY_MESSAGE_CATEGORIES)]
            name = f"{product} {category} {i // len(_PRODUCTS) + 1}"
            created, modified, _ = self.times(700 * 86_400)
            rows.append(
                (
                    kid,
                    0,
                    created,
                    owner,
                    modified,
                    owner,
                    modified,
                    name,
                    owner,
                    f"{category} message for {product}",
                    category,
                    1,
                    f"CLM-{i:05d}",
                )
            )
            out.append((kid, name, category))
        cols = (
            *_SYS,
            "Name",
            "OwnerId",
            "Description_vod__c",
            "Category_vod__c",
            "Active_vod__c",
            "CLM_ID_vod__c",
        )
        _load(self.conn, _columns(obj, cols), rows)
        return out

    def calls(
        self,
        count: int,
        accounts: list[str],
        owners: list[str],
        messages: list[tuple[str, str, str]],
    ) -> tuple[int, int]:
        call_obj = OBJECTS["call2_vod__c"]
        ckm_obj = OBJECTS["call2_key_message_vod__c"]
        call_start = allocate_ids(self.conn, call_obj, count)
        rng = self.rng
        clock = self.clock
        ckm_rows: list[tuple[Any, ...]] = []
        ckm_sql = _columns(
            ckm_obj,
            (
                *_SYS,
                "Name",
                "Call2_vod__c",
                "Key_Message_vod__c",
                "Account_vod__c",
                "User_vod__c",
                "Key_Message_Name_vod__c",
                "Reaction_vod__c",
                "Category_vod__c",
                "Call_Date_vod__c",
                "Duration_vod__c",
            ),
        )
        ckm_count = 0
        ckm_seq = [allocate_ids(self.conn, ckm_obj, 0)]

        def flush_ckm() -> None:
            nonlocal ckm_count
            self.conn.executemany(ckm_sql, ckm_rows)
            ckm_count += len(ckm_rows)
            ckm_rows.clear()

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(count):
                seq = call_start + i
                cid = make_id(call_obj.key_prefix, seq)
                r = rng.random
                account = accounts[int(r() * len(accounts))]
                owner = owners[int(r() * len(owners))]
                call_ago = int(r() * 365 * 86_400)
                created_ago = max(0, call_ago - int(r() * 3 * 86_400))
                created = clock.stamp(created_ago)
                modified = clock.stamp(int(created_ago * r()))
                status = (
                    "Submitted_vod"
                    if created_ago > 7 * 86_400 or r() < 0.6
                    else ("Planned_vod" if r() < 0.5 else "Saved_vod")
                )
                deleted = int(status != "Submitted_vod" and r() < 0.2)
                call_date = clock.date(call_ago)
                products = ";".join(
                    sorted({_PRODUCTS[int(r() * len(_PRODUCTS))] for _ in range(1 + int(r() * 2))})
                )
                yield (
                    cid,
                    deleted,
                    created,
                    owner,
                    modified,
                    owner,
                    modified,
                    f"C-{seq:07d}",
                    owner,
                    account,
                    owner,
                    call_date,
                    clock.stamp(call_ago),
                    status,
                    CALL_TYPES[int(r() * len(CALL_TYPES))],
                    products,
                    float(5 + int(r() * 40)),
                    1.0,
                )
                for _ in range(int(r() * 4)):
                    kid, kname, category = messages[int(r() * len(messages))]
                    ckm_id = make_id(ckm_obj.key_prefix, ckm_seq[0])
                    ckm_rows.append(
                        (
                            ckm_id,
                            deleted,
                            created,
                            owner,
                            modified,
                            owner,
                            modified,
                            f"CKM-{ckm_seq[0]:07d}",
                            cid,
                            kid,
                            account,
                            owner,
                            kname,
                            REACTIONS[int(r() * len(REACTIONS))],
                            category,
                            call_date,
                            float(10 + int(r() * 170)),
                        )
                    )
                    ckm_seq[0] += 1
                if len(ckm_rows) >= _CHUNK:
                    flush_ckm()

        cols = (
            *_SYS,
            "Name",
            "OwnerId",
            "Account_vod__c",
            "User_vod__c",
            "Call_Date_vod__c",
            "Call_Datetime_vod__c",
            "Status_vod__c",
            "Call_Type_vod__c",
            "Detailed_Products_vod__c",
            "Duration_vod__c",
            "Is_Parent_Call_vod__c",
        )
        _load(self.conn, _columns(call_obj, cols), rows())
        flush_ckm()
        allocate_ids(self.conn, ckm_obj, ckm_seq[0] - allocate_ids(self.conn, ckm_obj, 0))
        return count, ckm_count

    def inquiries(self, count: int, accounts: list[str], owners: list[str]) -> int:
        obj = OBJECTS["medical_inquiry_vod__c"]
        start = allocate_ids(self.conn, obj, count)
        rng = self.rng

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(count):
                r = rng.random
                owner = owners[int(r() * len(owners))]
                created, modified, _ = self.times(365 * 86_400)
                yield (
                    make_id(obj.key_prefix, start + i),
                    0,
                    created,
                    owner,
                    modified,
                    owner,
                    modified,
                    f"MI-{start + i:07d}",
                    owner,
                    accounts[int(r() * len(accounts))],
                    _INQUIRIES[int(r() * len(_INQUIRIES))],
                    INQUIRY_STATUSES[int(r() * len(INQUIRY_STATUSES))],
                    DELIVERY_METHODS[int(r() * len(DELIVERY_METHODS))],
                )

        cols = (
            *_SYS,
            "Name",
            "OwnerId",
            "Account_vod__c",
            "Inquiry_Text__c",
            "Status_vod__c",
            "Delivery_Method_vod__c",
        )
        return _load(self.conn, _columns(obj, cols), rows())


def seed_connection(
    conn: sqlite3.Connection,
    person_accounts: int,
    seed: int = 7,
    *,
    business_accounts: int | None = None,
    users: int | None = None,
    calls_per_account: float = 0.5,
    key_messages: int = 48,
    inquiries_per_account: float = 0.05,
    now: dt.datetime | None = None,
) -> SeedReport:
    """Append generated data through an open connection (the store's or a fresh one)."""
    began = time.perf_counter()
    now = (now or utc_now()).astimezone(dt.UTC).replace(microsecond=0)
    rng = random.Random(seed)
    clock = _Clock(now, 800)
    report = SeedReport(now=now.isoformat())
    conn.execute("PRAGMA synchronous=OFF")
    drop_indexes(conn)
    conn.execute("BEGIN")
    try:
        seeder = _Seeder(conn, rng, clock)
        n_users = users if users is not None else max(5, person_accounts // 2000)
        owners = seeder.users(n_users)
        n_business = (
            business_accounts if business_accounts is not None else max(5, person_accounts // 50)
        )
        parents = seeder.business_accounts(n_business, owners)
        professionals = seeder.person_accounts(person_accounts, owners, parents)
        messages = seeder.key_messages(key_messages, seeder.integration)
        targets = professionals or parents
        n_calls = int(person_accounts * calls_per_account) if targets else 0
        calls, ckms = seeder.calls(n_calls, targets, owners, messages) if n_calls else (0, 0)
        n_inq = int(person_accounts * inquiries_per_account) if targets else 0
        inquiries = seeder.inquiries(n_inq, targets, owners) if n_inq else 0
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        create_indexes(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA analysis_limit=1000")
    conn.execute("ANALYZE")
    report.person_accounts = person_accounts
    report.business_accounts = n_business
    report.users = n_users
    report.key_messages = key_messages
    report.calls = calls
    report.call_key_messages = ckms
    report.medical_inquiries = inquiries
    report.counts = {
        obj.name: int(conn.execute(f"SELECT COUNT(*) FROM {quote_ident(obj.name)}").fetchone()[0])
        for obj in OBJECTS.values()
    }
    report.seconds = round(time.perf_counter() - began, 2)
    return report


def seed(state_dir: Path, person_accounts: int, seed: int = 7, **options: Any) -> SeedReport:
    """Seed the state in ``state_dir`` (the emulator need not be running).

    Args:
        state_dir: The emulator's state directory (created when missing).
        person_accounts: How many person accounts to generate.
        seed: Seed of the random generator; the same inputs give the same data.
        **options: Passed to :func:`seed_connection` (``business_accounts``, ``users``,
            ``calls_per_account``, ``key_messages``, ``inquiries_per_account``, ``now``).

    Returns:
        What was written and how long it took.
    """
    conn = open_db(state_dir)
    try:
        conn.execute("BEGIN IMMEDIATE")
        bootstrap(conn)
        conn.execute("COMMIT")
        return seed_connection(conn, person_accounts, seed, **options)
    finally:
        conn.close()
