"""One planned call against the ``MarketoApi`` port, answered as a ``CallOutcome``.

Errors of the client (``TransientError``, ``QuotaExhaustedError`` …) propagate unchanged; the
writer reacts to their ``action``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..clients.ports import MarketoAction, MarketoApi, WriteResult
from .batching import Call, Op, OpKind, TargetKind
from .outcomes import CallOutcome, Written, classify


class MarketoCalls:
    """Runs planned calls and counts every API call it makes.

    Args:
        api: The Marketo port (the real client or a fake).
        id_map: Veeva Id -> Marketo id, used to find the lead ids of lead deletes.
    """

    def __init__(self, api: MarketoApi, id_map: Mapping[str, str]) -> None:
        self._api = api
        self._id_map = id_map
        self.calls = 0

    async def execute(self, call: Call) -> CallOutcome:
        """Make the API call(s) of ``call`` and sort the answers per record."""
        if call.kind is not OpKind.DELETE:
            records = [op.record() for op in call.ops]
            self.calls += 1
            if call.target.kind is TargetKind.LEAD:
                action: MarketoAction = (
                    "updateOnly" if call.kind is OpKind.UPDATE else "createOrUpdate"
                )
                results = await self._api.sync_leads(
                    records, lookup_field=call.lookup_field, action=action
                )
            else:
                results = await self._api.sync_custom_objects(call.target.name, records)
            return classify(call.ops, results)
        if call.target.kind is TargetKind.CUSTOM_OBJECT:
            keys = [{op.lookup_field: op.key} for op in call.ops]
            self.calls += 1
            results = await self._api.delete_custom_objects(call.target.name, keys)
            return classify(call.ops, results)
        return await self._delete_leads(call)

    async def _delete_leads(self, call: Call) -> CallOutcome:
        lead_ids = await self._lead_ids(call.lookup_field, call.ops)
        found = [op for op in call.ops if op.key in lead_ids]
        absent = tuple(Written(op, None, "absent") for op in call.ops if op.key not in lead_ids)
        if not found:
            return CallOutcome(written=absent)
        self.calls += 1
        results: Sequence[WriteResult] = await self._api.delete_leads(
            [lead_ids[op.key] for op in found]
        )
        outcome = classify(found, results)
        return CallOutcome(outcome.written + absent, outcome.rejected, outcome.retry)

    async def _lead_ids(self, lookup_field: str, ops: Sequence[Op]) -> dict[str, int]:
        """Lead ids by Veeva Id: from the id map, else one lookup by the dedupe field."""
        ids: dict[str, int] = {}
        missing: list[str] = []
        for op in ops:
            known = self._id_map.get(op.key)
            if known is not None and known.isdigit():
                ids[op.key] = int(known)
            else:
                missing.append(op.key)
        if missing:
            wanted = set(missing)
            self.calls += 1
            leads = await self._api.get_leads(lookup_field, missing, ["id", lookup_field])
            for lead in leads:
                key, lead_id = lead.get(lookup_field), lead.get("id")
                if key in wanted and lead_id is not None:
                    ids[str(key)] = int(lead_id)
        return ids
