"""The accept statement's plan on a table of some size: no statement of accept reads the whole notification
table (the cost of each accept would then grow with every notification ever kept)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any, cast

import asyncpg

from services.accept import accept
from tests.services.test_accept import CALLER, _body, _settings, _template_and_user

ROWS = 5000


class PlanningConnection:
    """One connection (and its open transaction) that explains each statement before it runs it."""

    def __init__(self, conn: Any):
        self._conn = conn
        self.plans: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._conn, name)
        if name not in ("fetch", "fetchrow", "fetchval", "execute"):
            raise AssertionError(f"connection.{name} was used, which this plan check does not see into")

        async def explained(query: str, *args: Any, **kwargs: Any) -> Any:
            plan = await self._conn.fetchval("EXPLAIN (FORMAT JSON) " + query, *args)
            self.plans.append((query, json.loads(plan) if isinstance(plan, str) else plan))
            return await call(query, *args, **kwargs)
        return explained


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


async def test_accepting_probes_indexes_and_reads_no_whole_table(pool: asyncpg.Pool) -> None:
    settings = _settings()
    template, user_id = await _template_and_user(pool)
    tag = uuid.uuid4().hex[:8]
    async with pool.acquire() as conn:
        rows_of_this_test = conn.transaction()  # rolled back: no other test sees them
        await rows_of_this_test.start()
        try:
            await conn.execute(
                """INSERT INTO notification (id, idempotency_key, request_hash, workflow_id, status, user_id,
                                             recipient, channels, priority, category, template, template_version,
                                             data, created_by)
                   SELECT $1 || g, $1 || 'k' || g, 'h', $1 || 'w' || g, 'delivered', 'plan-user', '{}'::jsonb,
                          ARRAY['email'], 'transactional', NULL, 't', 1, '{}'::jsonb, 'plan-key'
                   FROM generate_series(1, $2::int) g""", f"plan-{tag}-", ROWS)
            await conn.execute("ANALYZE notification")
            planning = PlanningConnection(conn)
            status, _ = await accept(cast(asyncpg.Pool, planning), settings, _body(template, user_id), None,
                                     CALLER)
        finally:
            await rows_of_this_test.rollback()
    assert status == 202
    assert any("INSERT INTO notification" in q for q, _ in planning.plans)
    for query, plan in planning.plans:
        scans = [n for n in _nodes(plan[0]["Plan"])
                 if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "notification"]
        assert not scans, f"reads all of notification: {query[:300]}"
