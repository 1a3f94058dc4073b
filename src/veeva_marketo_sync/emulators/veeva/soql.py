"""A parser for the subset of SOQL a sync needs: it turns query text into a small AST."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from veeva_marketo_sync.emulators.veeva.errors import ApiError, malformed_query

KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "in",
        "like",
        "null",
        "true",
        "false",
        "order",
        "by",
        "asc",
        "desc",
        "nulls",
        "first",
        "last",
        "limit",
        "offset",
        "includes",
        "excludes",
    }
)

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?\d+(?:\.\d+)?(?![\w-]))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class Token:
    """One lexical token; ``kind`` is a group name of the token regex or ``keyword``."""

    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class FieldRef:
    """A field path such as ``Id`` or ``RecordType.DeveloperName``."""

    path: tuple[str, ...]

    @property
    def text(self) -> str:
        """The path as written."""
        return ".".join(self.path)


@dataclass(frozen=True)
class Count:
    """``COUNT()`` or ``COUNT(field)``."""

    field: FieldRef | None
    alias: str | None = None


Literal = str | int | float | bool | None | dt.date | dt.datetime


@dataclass(frozen=True)
class Value:
    """A literal in a condition; ``kind`` records how it was written."""

    kind: str  # string | number | boolean | null | date | datetime
    value: Literal


@dataclass(frozen=True)
class Comparison:
    """``field op value`` (op is one of = != < <= > >= LIKE)."""

    field: FieldRef
    op: str
    value: Value


@dataclass(frozen=True)
class InList:
    """``field [NOT] IN (values)``."""

    field: FieldRef
    values: tuple[Value, ...]
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    """``AND`` / ``OR`` over two or more conditions."""

    op: str
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """``NOT condition``."""

    item: Condition


Condition = Comparison | InList | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    """One ``ORDER BY`` key."""

    field: FieldRef
    descending: bool = False
    nulls_last: bool | None = None  # None = SOQL default (ASC: first, DESC: last)


@dataclass(frozen=True)
class Query:
    """A parsed ``SELECT``."""

    select: tuple[FieldRef | Count, ...]
    sobject: str
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None

    @property
    def is_count(self) -> bool:
        """Whether the query is an aggregate ``COUNT()`` query."""
        return any(isinstance(item, Count) for item in self.select)


def tokenize(text: str) -> list[Token]:
    """Split SOQL into tokens; raise ``MALFORMED_QUERY`` on a character that fits nothing."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise malformed_query(f"unexpected token: '{text[pos : pos + 20]}'")
        kind = match.lastgroup or ""
        chunk = match.group()
        if kind == "ident" and chunk.lower() in KEYWORDS:
            kind = "keyword"
        if kind != "ws":
            tokens.append(Token(kind, chunk, pos))
        pos = match.end()
    return tokens


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            # LIKE wildcards keep their backslash so the translator can tell them apart.
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def parse_datetime(text: str) -> dt.datetime:
    """Parse a SOQL datetime literal into an aware UTC datetime."""
    value = text
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise malformed_query(f"invalid datetime: {text}") from exc
    return parsed.astimezone(dt.UTC)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        index = self.i + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def is_kw(self, *words: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == "keyword" and tok.text.lower() in words

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise malformed_query("unexpected end of query")
        self.i += 1
        return tok

    def expect_kw(self, word: str) -> None:
        tok = self.next()
        if tok.kind != "keyword" or tok.text.lower() != word:
            raise self.unexpected(tok)

    def expect_punct(self, char: str) -> None:
        tok = self.next()
        if tok.text != char:
            raise self.unexpected(tok)

    def unexpected(self, tok: Token) -> ApiError:
        return malformed_query(
            f"\n{self.text}\n{' ' * tok.pos}^\nERROR at Row:1:Column:{tok.pos + 1}\n"
            f"unexpected token: '{tok.text}'"
        )

    def parse(self) -> Query:
        self.expect_kw("select")
        select = self.select_list()
        self.expect_kw("from")
        obj = self.next()
        if obj.kind != "ident" or "." in obj.text:
            raise self.unexpected(obj)
        where = None
        order: tuple[OrderItem, ...] = ()
        limit = offset = None
        if self.is_kw("where"):
            self.next()
            where = self.condition()
        if self.is_kw("order"):
            self.next()
            self.expect_kw("by")
            order = self.order_list()
        if self.is_kw("limit"):
            self.next()
            limit = self.integer()
        if self.is_kw("offset"):
            self.next()
            offset = self.integer()
        tok = self.peek()
        if tok is not None:
            raise self.unexpected(tok)
        return Query(tuple(select), obj.text, where, order, limit, offset)

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.unexpected(tok)
        return int(tok.text)

    def field_ref(self) -> FieldRef:
        tok = self.next()
        if tok.kind != "ident":
            raise self.unexpected(tok)
        return FieldRef(tuple(tok.text.split(".")))

    def select_list(self) -> list[FieldRef | Count]:
        items: list[FieldRef | Count] = []
        while True:
            tok = self.peek()
            nxt = self.peek(1)
            if tok is not None and tok.text.lower() == "count" and nxt and nxt.text == "(":
                self.i += 2
                inner = None if self.peek() and self.peek().text == ")" else self.field_ref()  # type: ignore[union-attr]
                self.expect_punct(")")
                alias = None
                after = self.peek()
                if after is not None and after.kind == "ident" and "." not in after.text:
                    alias = self.next().text
                items.append(Count(inner, alias))
            else:
                items.append(self.field_ref())
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.next()
                continue
            return items

    def order_list(self) -> tuple[OrderItem, ...]:
        items = []
        while True:
            ref = self.field_ref()
            descending = False
            nulls_last: bool | None = None
            if self.is_kw("asc", "desc"):
                descending = self.next().text.lower() == "desc"
            if self.is_kw("nulls"):
                self.next()
                if not self.is_kw("first", "last"):
                    raise self.unexpected(self.next())
                nulls_last = self.next().text.lower() == "last"
            items.append(OrderItem(ref, descending, nulls_last))
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.next()
                continue
            return tuple(items)

    def condition(self) -> Condition:
        items = [self.conjunction()]
        while self.is_kw("or"):
            self.next()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def conjunction(self) -> Condition:
        items = [self.unary()]
        while self.is_kw("and"):
            self.next()
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self) -> Condition:
        if self.is_kw("not"):
            self.next()
            return Not(self.unary())
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.next()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.simple()

    def simple(self) -> Condition:
        ref = self.field_ref()
        if self.is_kw("not") and self.is_kw("in", offset=1):
            self.i += 2
            return InList(ref, self.value_list(), negated=True)
        if self.is_kw("in"):
            self.next()
            return InList(ref, self.value_list(), negated=False)
        tok = self.next()
        if tok.kind == "op":
            op = "!=" if tok.text == "<>" else tok.text
        elif tok.kind == "keyword" and tok.text.lower() == "like":
            op = "LIKE"
        else:
            raise self.unexpected(tok)
        return Comparison(ref, op, self.value())

    def value_list(self) -> tuple[Value, ...]:
        self.expect_punct("(")
        values = [self.value()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.next()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Value:
        tok = self.next()
        lowered = tok.text.lower()
        result: Value
        if tok.kind == "string":
            result = Value("string", _unquote(tok.text))
        elif tok.kind == "number":
            number: int | float = float(tok.text) if "." in tok.text else int(tok.text)
            result = Value("number", number)
        elif tok.kind == "keyword" and lowered in ("true", "false"):
            result = Value("boolean", lowered == "true")
        elif tok.kind == "keyword" and lowered == "null":
            result = Value("null", None)
        elif tok.kind == "datetime":
            result = Value("datetime", parse_datetime(tok.text))
        elif tok.kind == "date":
            try:
                result = Value("date", dt.date.fromisoformat(tok.text))
            except ValueError as exc:
                raise malformed_query(f"invalid date: {tok.text}") from exc
        else:
            raise self.unexpected(tok)
        return result


def parse(text: str) -> Query:
    """Parse SOQL text; raise ``ApiError(MALFORMED_QUERY)`` when it is not valid."""
    return _Parser(text).parse()
