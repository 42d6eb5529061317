"""The template and user services on the real database, with no HTTP in between: versions, typed records, and
refusals as `Problem`s that carry the contract's status, code and field."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from core.errors import Problem
from services import templates, users
from store import templates as template_store
from store.templates import TemplateRecord
from store.users import UserRecord


def _name() -> str:
    return f"svc-{uuid.uuid4().hex[:10]}"


async def test_a_second_save_is_version_2_and_version_1_stays_readable(pool: asyncpg.Pool) -> None:
    name = _name()
    first = await templates.create(pool, name, "Hi {{ who }}", "Hello {{ who }}", "first", None)
    second = await templates.update(pool, name, "Hi again", "Welcome back {{ who }}", "second", "<p>{{ who }}</p>")
    assert isinstance(first, TemplateRecord) and (first.version, first.latest_version) == (1, 1)
    assert (second.version, second.latest_version, second.body) == (2, 2, "Welcome back {{ who }}")

    latest = await templates.get(pool, name)
    assert (latest.version, latest.subject, latest.html) == (2, "Hi again", "<p>{{ who }}</p>")
    old = await templates.get(pool, name, 1)
    assert (old.version, old.latest_version, old.subject, old.body, old.description) == (
        1, 2, "Hi {{ who }}", "Hello {{ who }}", "first")
    assert await templates.variables(old) == ["who"]
    assert [(v.version, v.description) for v in await templates.history(pool, name)] == [(2, "second"),
                                                                                         (1, "first")]
    # The worker's one-round-trip read (JSON on the wire) gives the very record the API's read gives.
    pinned, nobody = await template_store.get_with_user(pool, name, 1, None)
    assert pinned == old and nobody is None


async def test_an_invalid_template_is_refused_with_its_field_and_nothing_is_stored(pool: asyncpg.Pool) -> None:
    name = _name()
    with pytest.raises(Problem) as refused:
        await templates.create(pool, name, "Hi", "Hello {{ who ", None, None)
    assert (refused.value.status, refused.value.code) == (422, "template_syntax_error")
    assert refused.value.details[0]["field"] == "body" and refused.value.details[0]["line"] == 1
    with pytest.raises(Problem) as missing:
        await templates.get(pool, name)
    assert missing.value.status == 404

    await templates.create(pool, name, "Hi", "Hello", None, None)
    with pytest.raises(Problem) as refused:
        await templates.update(pool, name, "{% if %}", "Hello", None, None)
    assert (refused.value.status, refused.value.details[0]["field"]) == (422, "subject")
    assert (await templates.get(pool, name)).version == 1
    with pytest.raises(Problem) as taken:
        await templates.create(pool, name, None, "Again", None, None)
    assert (taken.value.status, taken.value.code) == (409, "template_exists")


async def test_users_are_typed_records_and_refusals_are_problems(pool: asyncpg.Pool) -> None:
    user_id = f"u-{uuid.uuid4().hex[:10]}"
    created = await users.create(pool, user_id, {"name": "Ada", "email": "ada@example.com", "topics": ["news"]})
    assert isinstance(created, UserRecord) and (created.id, created.topics, created.preferences) == (
        user_id, ["news"], {})
    with pytest.raises(Problem) as taken:
        await users.create(pool, user_id, {"name": "Other"})
    assert (taken.value.status, taken.value.code) == (409, "user_exists")
    with pytest.raises(Problem) as cleared:
        await users.update(pool, user_id, {"name": None})
    assert (cleared.value.status, cleared.value.details[0]["field"]) == (422, "name")
    updated = await users.update(pool, user_id, {"topics": None, "locale": "fr"})
    assert (updated.name, updated.topics, updated.locale) == ("Ada", [], "fr")
    with pytest.raises(Problem) as unknown:
        await users.issue_token(pool, f"{user_id}-nobody", 60)
    assert unknown.value.status == 404
