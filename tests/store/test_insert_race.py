"""One idempotency key, many concurrent inserts: every caller gets the same stored notification, none an error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from core.ids import notification_id_for_key
from core.workflow_ids import notification_workflow_id
from store import notifications
from store.db import create_pool
from store.migrate import migrate_url
from tests.conftest import new_database

CONCURRENT = 16
ROUNDS = 40


@pytest.fixture
async def own_pool(pg_server: Any) -> AsyncIterator[asyncpg.Pool]:
    url = await new_database(pg_server, f"race_{uuid.uuid4().hex[:8]}")
    await migrate_url(url)
    pool = await create_pool(url, min_size=CONCURRENT, max_size=CONCURRENT)
    yield pool
    await pool.close()


def _new(key: str, request_hash: str = "h") -> notifications.NewNotification:
    nid = notification_id_for_key(key)
    return notifications.NewNotification(
        id=nid, idempotency_key=key, request_hash=request_hash,
        workflow_id=notification_workflow_id(nid), status="accepted",
        user_id=None, recipient={"sim": "ok"}, channels=["sim"], priority="transactional", category=None,
        template="t", template_version=1, data={}, send_at=None)


async def test_concurrent_inserts_of_one_key_all_get_the_one_row(own_pool: asyncpg.Pool) -> None:
    """The unique indexes other than the idempotency key's (the id and the workflow id, both derived from the key)
    must not turn the losers of the race into unique-violation errors."""
    for _ in range(ROUNDS):
        key = uuid.uuid4().hex
        results = await asyncio.gather(*(notifications.insert(own_pool, _new(key)) for _ in range(CONCURRENT)),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors[:3]
        assert sum(1 for r in results if not isinstance(r, BaseException) and r[1]) == 1
        assert {r[0].id for r in results if not isinstance(r, BaseException)} == {notification_id_for_key(key)}
