"""Accepting with the templates kept from earlier accepts: the recursive read is skipped while nothing changed,
and any change to a template, a translation, a layout or an include is seen by the very next accept, whichever
process made it."""

from __future__ import annotations

import uuid
from typing import cast

import asyncpg
import pytest

from api.schemas import NotificationCreate
from core.errors import Problem
from services.accept import Caller, accept
from services.accept_reads import AcceptReads
from store import layouts, notifications, templates
from store.templates import RenderPins
from tests.services.test_accept import _settings, _template_and_user
from tests.statements import CountingPool

CALLER = Caller(key="reads-test", is_admin=False)


def _body(template: str, user_id: str | None = None, version: int | None = None) -> NotificationCreate:
    body = {"template": template, "channels": ["in_app"], "data": {"name": "Ada"}, "template_version": version}
    return NotificationCreate.model_validate({**body, "user_id": user_id} if user_id else
                                             {**body, "channels": ["sim"], "to": {"sim": "ok"}})


async def _accepted(pool: asyncpg.Pool, kept: AcceptReads, body: NotificationCreate) -> tuple[list[str], int]:
    """The statements one accept sent, and the template version it pinned."""
    counting = CountingPool(pool)
    _, n = await accept(cast(asyncpg.Pool, counting), _settings(), body, None, CALLER, kept)
    return counting.statements, n.template_version


def _read_templates(statements: list[str]) -> bool:
    return any("WITH RECURSIVE" in s for s in statements)


async def test_a_kept_read_skips_the_template_read_and_still_reads_the_user(pool: asyncpg.Pool) -> None:
    template, user_id = await _template_and_user(pool)
    kept = AcceptReads()
    first, _ = await _accepted(pool, kept, _body(template, user_id))
    assert _read_templates(first) and len(first) == 2
    again, _ = await _accepted(pool, kept, _body(template, user_id))
    assert not _read_templates(again) and len(again) == 2, again  # the version and the user, then the insert

    # The user is read on every accept: a user deleted since is refused, whatever was kept.
    await pool.execute("DELETE FROM app_user WHERE id = $1", user_id)
    with pytest.raises(Problem) as refused:
        await _accepted(pool, kept, _body(template, user_id))
    assert refused.value.code == "unknown_user"


async def test_a_new_version_saved_by_another_process_is_used_by_the_next_accept(pool: asyncpg.Pool) -> None:
    template, user_id = await _template_and_user(pool)
    kept = AcceptReads()
    _, version = await _accepted(pool, kept, _body(template, user_id))
    assert version == 1
    # Another API process: a pool of its own, its own kept reads, the same database.
    async with pool.acquire() as conn:
        await templates.add_version(conn, template, "Hey {{ name }}", "Hey {{ name }}", None)
    statements, version = await _accepted(pool, kept, _body(template, user_id))
    assert version == 2 and _read_templates(statements)
    statements, version = await _accepted(pool, kept, _body(template))  # no user: the version alone is read
    assert version == 2 and len(statements) == 2 and not _read_templates(statements)


async def test_a_deleted_template_is_refused_at_once(pool: asyncpg.Pool) -> None:
    template, user_id = await _template_and_user(pool)
    kept = AcceptReads()
    await _accepted(pool, kept, _body(template, user_id))
    await templates.delete(pool, template)
    with pytest.raises(Problem) as refused:
        await _accepted(pool, kept, _body(template, user_id))
    assert refused.value.code == "unknown_template"


async def test_a_translation_a_layout_and_an_include_changed_since_are_seen(pool: asyncpg.Pool) -> None:
    suffix = uuid.uuid4().hex[:8]
    name, layout, part = f"kl-{suffix}", f"kl-lay-{suffix}", f"kl-part-{suffix}"
    async with pool.acquire() as conn:
        await templates.create(conn, part, None, "part one", None)
        await layouts.create(conn, layout, "<main>{{ content }}</main>", "{{ content }}", ())
        await templates.create(conn, name, "Hi", f'Hello {{% include "{part}" %}}', None, layout=layout,
                               includes=(part,))
    kept = AcceptReads()

    async def pins() -> RenderPins | None:
        _, n = await accept(pool, _settings(), _body(name), None, CALLER, kept)
        return await notifications.render_pins(pool, n.id)

    assert await pins() == RenderPins(layout=(layout, 1), includes={part: 1})
    async with pool.acquire() as conn:
        await layouts.add_version(conn, layout, "<div>{{ content }}</div>", "{{ content }}", ())
    assert await pins() == RenderPins(layout=(layout, 2), includes={part: 1})
    async with pool.acquire() as conn:
        await templates.add_version(conn, part, None, "part two", None)
    assert await pins() == RenderPins(layout=(layout, 2), includes={part: 2})

    async with pool.acquire() as conn:
        await templates.put_locale(conn, name, "fr", "Salut", f'Bonjour {{% include "{part}" %}}', None)
    _, n = await accept(pool, _settings(), _body(name), None, CALLER, kept)
    assert n.template_version == 2  # the translation made a new version of the template

    # An include deleted since: the next accept can no longer render the template and says so.
    await templates.delete(pool, part)
    with pytest.raises(Problem) as refused:
        await accept(pool, _settings(), _body(name), None, CALLER, kept)
    assert refused.value.code == "unknown_include"


async def test_the_kept_reads_are_bounded(pool: asyncpg.Pool) -> None:
    names = [(await _template_and_user(pool))[0] for _ in range(3)]
    kept = AcceptReads(most=2)
    for name in names:
        await _accepted(pool, kept, _body(name))
    assert len(kept._kept) <= 2
    statements, _ = await _accepted(pool, kept, _body(names[-1]))
    assert not _read_templates(statements)  # the newest is kept
