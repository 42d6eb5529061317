"""The key, inbox and topic services on the real database, with no HTTP in between: a key is shown once and
found by its hash until revoked; who may reach an inbox is decided, and refused as a `Problem`, in one place."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from core.errors import Problem
from core.ids import hash_secret
from services import inbox, keys, topics, users


async def test_an_issued_key_is_found_by_its_hash_until_it_is_revoked(pool: asyncpg.Pool) -> None:
    issued = await keys.issue(pool, "svc-test", ["send"], None, None)
    assert issued.key not in repr(issued.record) and issued.record.scopes == ["send"]
    found = await keys.check(pool, hash_secret(issued.key), 0, 1)
    assert found is not None and (found.key_id, found.scopes) == (issued.record.id, frozenset({"send"}))
    await keys.revoke(pool, issued.record.id)
    await keys.revoke(pool, issued.record.id)  # twice is a no-op
    assert await keys.check(pool, hash_secret(issued.key), 0, 1) is None
    with pytest.raises(Problem) as unknown:
        await keys.revoke(pool, f"key_{uuid.uuid4().hex}")
    assert unknown.value.status == 404


async def test_who_reaches_an_inbox_is_decided_by_the_service(pool: asyncpg.Pool) -> None:
    owner = (await users.create(pool, None, {"name": "Ada"})).id
    await inbox.authorize(pool, owner, token_user_id=owner, admin=False, reader=False, write=True)
    await inbox.authorize(pool, owner, token_user_id=None, admin=False, reader=True, write=False)
    refusals = [
        # Another user's inbox is not found, not forbidden: a token learns no user ids.
        ({"token_user_id": "someone-else", "admin": False, "reader": False, "write": False}, 404),
        ({"token_user_id": None, "admin": False, "reader": True, "write": True}, 403),
        ({"token_user_id": None, "admin": False, "reader": False, "write": False}, 403),
    ]
    for caller, status in refusals:
        with pytest.raises(Problem) as refused:
            await inbox.authorize(pool, owner, **caller)  # type: ignore[arg-type]
        assert refused.value.status == status, caller
    with pytest.raises(Problem) as missing:
        await inbox.authorize(pool, f"{owner}-nobody", token_user_id=None, admin=True, reader=True, write=True)
    assert missing.value.status == 404


async def test_subscribing_unknown_users_is_refused_naming_them(pool: asyncpg.Pool) -> None:
    known = (await users.create(pool, None, {"name": "Ada"})).id
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    with pytest.raises(Problem) as refused:
        await topics.subscribe(pool, "svc-news", [known, ghost])
    assert (refused.value.status, refused.value.details[0]["missing"]) == (422, [ghost])
    assert await topics.subscribe(pool, "svc-news", [known]) == 1
    assert await topics.subscribe(pool, "svc-news", [known]) == 0
    assert known in await topics.subscribers(pool, "svc-news", None, 1000)
