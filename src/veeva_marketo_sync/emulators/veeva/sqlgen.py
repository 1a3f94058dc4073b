"""Translate a parsed SOQL query into SQLite SQL over one table per object."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from veeva_marketo_sync.emulators.veeva.errors import (
    ApiError,
    invalid_field,
    invalid_type,
    malformed_query,
    no_such_column,
)
from veeva_marketo_sync.emulators.veeva.ids import to_18
from veeva_marketo_sync.emulators.veeva.schema import (
    TEXT_TYPES,
    FieldDef,
    ObjectDef,
    get_object,
)
from veeva_marketo_sync.emulators.veeva.soql import (
    BoolOp,
    Comparison,
    Condition,
    Count,
    FieldRef,
    InList,
    Not,
    Query,
    Value,
)

HiddenFields = Mapping[str, Collection[str]]
"""Lower-case object name -> lower-case names of fields the integration user cannot see."""


def quote_ident(name: str) -> str:
    """Quote an identifier for SQLite (names come from the schema, never from the client)."""
    return '"' + name.replace('"', '""') + '"'


def format_datetime(value: dt.datetime) -> str:
    """The stored (and sortable) form of a datetime: ``2024-05-01T10:00:00.000Z`` in UTC."""
    utc = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def output_datetime(stored: str) -> str:
    """The REST JSON form of a stored datetime: ``2024-05-01T10:00:00.000+0000``."""
    return stored[:-1] + "+0000" if stored.endswith("Z") else stored


def to_json_value(fdef: FieldDef, raw: Any) -> Any:
    """Convert a stored column value to what the REST API answers."""
    if raw is None:
        return None
    if fdef.type == "boolean":
        return bool(raw)
    if fdef.type == "datetime":
        return output_datetime(str(raw))
    if fdef.type == "double":
        return float(raw)
    return raw


@dataclass(frozen=True)
class OutputColumn:
    """One selected field and where to put it in the JSON record."""

    path: tuple[str, ...]  # canonical names: relationship names then the field name
    objects: tuple[ObjectDef, ...]  # object at each level (len(path))
    fdef: FieldDef
    index: int


@dataclass
class CompiledQuery:
    """SQL for the rows and for the count, plus how to shape records."""

    sobject: ObjectDef
    sql: str
    params: list[Any]
    count_sql: str
    count_params: list[Any]
    columns: list[OutputColumn]
    join_id_index: dict[tuple[str, ...], int]  # relationship path -> index of its Id column
    aggregate: Count | None = None
    limit: int | None = None
    offset: int | None = None


@dataclass
class _Ctx:
    root: ObjectDef
    hidden: HiddenFields
    joins: dict[tuple[str, ...], tuple[str, ObjectDef, str]] = field(default_factory=dict)
    join_sql: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def visible(self, obj: ObjectDef, fdef: FieldDef) -> bool:
        return fdef.name.lower() not in self.hidden.get(obj.name.lower(), ())

    def resolve(
        self, ref: FieldRef
    ) -> tuple[str, FieldDef, tuple[str, ...], tuple[ObjectDef, ...], str]:
        """Return (sql expr, field, canonical path, objects per level, alias of the table)."""
        path = list(ref.path)
        if len(path) > 1 and path[0].lower() == self.root.name.lower():
            path = path[1:]
        obj = self.root
        alias = "t0"
        canonical: list[str] = []
        objects: list[ObjectDef] = [obj]
        for rel in path[:-1]:
            fdef = obj.by_relationship.get(rel.lower())
            if fdef is None or not self.visible(obj, fdef):
                raise invalid_field(
                    f"Didn't understand relationship '{rel}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' "
                    "after the custom relationship name. Please reference your WSDL or the "
                    "describe call for the appropriate names."
                )
            target = get_object(fdef.reference_to or "")
            if target is None:
                raise invalid_field(f"Relationship '{rel}' cannot be traversed.")
            canonical.append(fdef.relationship_name or rel)
            key = tuple(canonical)
            if key not in self.joins:
                new_alias = f"j{len(self.joins) + 1}"
                self.joins[key] = (new_alias, target, alias)
                self.join_sql.append(
                    f"LEFT JOIN {quote_ident(target.name)} AS {new_alias} "
                    f"ON {new_alias}.Id = {alias}.{quote_ident(fdef.name)}"
                )
            alias = self.joins[key][0]
            obj = target
            objects.append(obj)
        leaf = obj.field(path[-1])
        if leaf is None or not self.visible(obj, leaf):
            raise no_such_column(path[-1], obj.name)
        canonical.append(leaf.name)
        expr = f"{alias}.{quote_ident(leaf.name)}"
        return expr, leaf, tuple(canonical), tuple(objects), alias


def _type_error(fdef: FieldDef) -> ApiError:
    wanted = {"datetime": "dateTime", "date": "date", "boolean": "boolean"}.get(fdef.type)
    if wanted is not None:
        return invalid_field(
            f"value of filter criterion for field '{fdef.name}' must be of type {wanted} "
            "and should not be enclosed in quotes"
        )
    if fdef.type in ("double", "int"):
        return invalid_field(
            f"value of filter criterion for field '{fdef.name}' must be of type double "
            "and should not be enclosed in quotes"
        )
    return invalid_field(f"value of filter criterion for field '{fdef.name}' is invalid")


def _convert(fdef: FieldDef, value: Value) -> Any:
    kind, raw = value.kind, value.value
    if fdef.type == "boolean":
        if kind != "boolean":
            raise _type_error(fdef)
        return 1 if raw else 0
    if fdef.type == "datetime":
        if kind != "datetime" or not isinstance(raw, dt.datetime):
            raise _type_error(fdef)
        return format_datetime(raw)
    if fdef.type == "date":
        if kind != "date" or not isinstance(raw, dt.date):
            raise _type_error(fdef)
        return raw.isoformat()
    if fdef.type in ("double", "int"):
        if kind != "number":
            raise _type_error(fdef)
        return raw
    if kind != "string" or not isinstance(raw, str):
        raise _type_error(fdef)
    if fdef.type in ("id", "reference"):
        return to_18(raw)
    return raw


def _collate(fdef: FieldDef) -> str:
    # SOQL string comparisons ignore case; ids compare exactly so their indexes stay usable.
    return " COLLATE NOCASE" if fdef.type in TEXT_TYPES - {"id", "reference"} else ""


def _condition(ctx: _Ctx, cond: Condition) -> str:
    if isinstance(cond, BoolOp):
        joiner = " AND " if cond.op == "and" else " OR "
        return "(" + joiner.join(_condition(ctx, item) for item in cond.items) + ")"
    if isinstance(cond, Not):
        # SOQL is two-valued: a comparison with null is false, so NOT of it is true.
        return "(NOT COALESCE(" + _condition(ctx, cond.item) + ", 0))"
    if isinstance(cond, InList):
        expr, fdef, *_ = ctx.resolve(cond.field)
        values = [_convert(fdef, v) for v in cond.values if v.kind != "null"]
        has_null = any(v.kind == "null" for v in cond.values)
        marks = ",".join("?" for _ in values)
        ctx.params.extend(values)
        collate = _collate(fdef)
        if cond.negated:
            inner = f"{expr}{collate} NOT IN ({marks})" if values else "1"
            return (
                f"({expr} IS NOT NULL AND {inner})" if has_null else f"({expr} IS NULL OR {inner})"
            )
        inner = f"{expr}{collate} IN ({marks})" if values else "0"
        return f"({expr} IS NULL OR {inner})" if has_null else inner
    return _comparison(ctx, cond)


def _comparison(ctx: _Ctx, cond: Comparison) -> str:
    expr, fdef, *_ = ctx.resolve(cond.field)
    if cond.value.kind == "null":
        if cond.op == "=":
            return f"{expr} IS NULL"
        if cond.op == "!=":
            return f"{expr} IS NOT NULL"
        raise malformed_query(f"invalid operator on null: {cond.op}")
    if cond.op == "LIKE":
        if fdef.type not in TEXT_TYPES or cond.value.kind != "string":
            raise invalid_field(f"invalid operator on field '{fdef.name}': LIKE")
        ctx.params.append(cond.value.value)
        return f"{expr} LIKE ? ESCAPE '\\'"
    converted = _convert(fdef, cond.value)
    ctx.params.append(converted)
    collate = _collate(fdef)
    if fdef.type == "boolean" and cond.op not in ("=", "!="):
        raise invalid_field(f"invalid operator on boolean field '{fdef.name}': {cond.op}")
    if cond.op == "!=":
        # SOQL's != matches nulls too; SQLite's IS NOT is the null-safe inequality.
        return f"{expr} IS NOT ?{collate}"
    return f"{expr} {cond.op} ?{collate}"


def _order_by(ctx: _Ctx, query: Query) -> list[str]:
    order_parts: list[str] = []
    for order in query.order_by:
        expr, fdef, *_ = ctx.resolve(order.field)
        part = expr + _collate(fdef) + (" DESC" if order.descending else "")
        default_nulls_last = order.descending
        if order.nulls_last is not None and order.nulls_last != default_nulls_last:
            part += " NULLS LAST" if order.nulls_last else " NULLS FIRST"
        order_parts.append(part)
    return order_parts


def _select_list(ctx: _Ctx, query: Query) -> tuple[list[str], list[OutputColumn], Count | None]:
    select_exprs: list[str] = []
    columns: list[OutputColumn] = []
    aggregate: Count | None = None
    for item in query.select:
        if isinstance(item, Count):
            if len(query.select) > 1:
                raise malformed_query("COUNT() must be the only element in the SELECT list")
            if item.field is not None:
                ctx.resolve(item.field)
            aggregate = item
            continue
        expr, fdef, path, objects, _ = ctx.resolve(item)
        columns.append(OutputColumn(path, objects, fdef, len(select_exprs)))
        select_exprs.append(expr)
    return select_exprs, columns, aggregate


def compile_query(query: Query, hidden: HiddenFields, *, include_deleted: bool) -> CompiledQuery:
    """Compile ``query``; raise ``ApiError`` for unknown objects/fields or bad literals."""
    root = get_object(query.sobject)
    if root is None:
        raise invalid_type(query.sobject)
    ctx = _Ctx(root=root, hidden=hidden)
    select_exprs, columns, aggregate = _select_list(ctx, query)
    join_id_index: dict[tuple[str, ...], int] = {}
    for key, (alias, _target, _parent) in ctx.joins.items():
        join_id_index[key] = len(select_exprs)
        select_exprs.append(f"{alias}.Id")
    select_params = list(ctx.params)
    ctx.params.clear()

    where_parts: list[str] = []
    if not include_deleted:
        where_parts.append("t0.IsDeleted = 0")
    if query.where is not None:
        where_parts.append(_condition(ctx, query.where))
    where_params = list(ctx.params)
    ctx.params.clear()

    order_parts = _order_by(ctx, query)
    # Joins found in WHERE/ORDER BY after the select list still need their Id columns.
    for key, (alias, _target, _parent) in ctx.joins.items():
        if key not in join_id_index:
            join_id_index[key] = len(select_exprs)
            select_exprs.append(f"{alias}.Id")

    from_sql = f"FROM {quote_ident(root.name)} AS t0 " + " ".join(ctx.join_sql)
    where_sql = (" WHERE " + " AND ".join(where_parts)) if where_parts else ""
    order_sql = (" ORDER BY " + ", ".join(order_parts)) if order_parts else ""
    if not select_exprs:
        select_exprs.append("t0.Id")
    sql = f"SELECT {', '.join(select_exprs)} {from_sql}{where_sql}{order_sql}"
    params = select_params + where_params
    if query.limit is not None or query.offset is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [query.limit if query.limit is not None else -1, query.offset or 0]
    count_inner = f"SELECT 1 {from_sql}{where_sql}"
    count_params = list(where_params)
    if query.limit is not None or query.offset is not None:
        count_inner += " LIMIT ? OFFSET ?"
        count_params += [query.limit if query.limit is not None else -1, query.offset or 0]
    count_sql = f"SELECT COUNT(*) FROM ({count_inner})"
    return CompiledQuery(
        sobject=root,
        sql=sql,
        params=params,
        count_sql=count_sql,
        count_params=count_params,
        columns=columns,
        join_id_index=join_id_index,
        aggregate=aggregate,
        limit=query.limit,
        offset=query.offset,
    )


def record_url(version: str, sobject: str, record_id: str) -> str:
    """The ``attributes.url`` of a record."""
    return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"


def shape_record(compiled: CompiledQuery, row: tuple[Any, ...], version: str) -> dict[str, Any]:
    """Build the nested JSON record of one result row, fields in select order."""
    root = compiled.sobject
    id_value = None
    for column in compiled.columns:
        if column.path == ("Id",):
            id_value = row[column.index]
    record: dict[str, Any] = {"attributes": {"type": root.name}}
    if id_value is not None:
        record["attributes"]["url"] = record_url(version, root.name, id_value)
    for column in compiled.columns:
        target = record
        dead = False
        for depth in range(len(column.path) - 1):
            rel_key = column.path[: depth + 1]
            name = column.path[depth]
            if name in target and target[name] is None:
                dead = True
                break
            if name not in target:
                join_id = row[compiled.join_id_index[rel_key]]
                if join_id is None:
                    target[name] = None
                    dead = True
                    break
                obj = column.objects[depth + 1]
                target[name] = {
                    "attributes": {
                        "type": obj.name,
                        "url": record_url(version, obj.name, join_id),
                    }
                }
            target = target[name]
        if not dead:
            target[column.path[-1]] = to_json_value(column.fdef, row[column.index])
    return record
