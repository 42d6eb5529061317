"""Idempotency keys per API key, and what a `send` key may see and change: only what it created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.schemas import NotificationCreate
from core.ids import notification_id_for_key, request_fingerprint
from core.workflow_ids import notification_workflow_id
from services.schedules import fire_broadcast_id, fire_key
from store import broadcasts, notifications
from tests.api.conftest import Api, eventually, uid
from tests.api.test_security import new_key


def later() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).isoformat()


async def test_one_idempotency_key_from_two_api_keys_names_two_notifications(api: Api) -> None:
    template, user = await api.template(), await api.user()
    (_, first), (_, second) = await new_key(api, "send"), await new_key(api, "send")
    key = uid("idem")
    body = {"template": template, "user_id": user, "channels": ["in_app"], "data": {"name": "Ada"}}
    r1 = await api.http.post("/v1/notifications", json=body, headers={**api.stack.auth(first), "Idempotency-Key": key})
    r2 = await api.http.post("/v1/notifications", json=body,
                             headers={**api.stack.auth(second), "Idempotency-Key": key})
    assert (r1.status_code, r2.status_code) == (202, 202), (r1.text, r2.text)
    assert r1.json()["id"] != r2.json()["id"]
    assert r1.json()["idempotency_key"] == r2.json()["idempotency_key"] == key  # shown as the client sent it
    again = await api.http.post("/v1/notifications", json=body,
                                headers={**api.stack.auth(first), "Idempotency-Key": key})
    assert again.status_code == 200 and again.json()["id"] == r1.json()["id"]
    # The admin key of the environment has a scope of its own, stable across restarts.
    r3 = await api.http.post("/v1/notifications", json=body, headers={**api.h, "Idempotency-Key": key})
    r4 = await api.http.post("/v1/notifications", json=body, headers={**api.h, "Idempotency-Key": key})
    assert (r3.status_code, r4.status_code) == (202, 200) and r3.json()["id"] == r4.json()["id"]
    assert r3.json()["id"] not in (r1.json()["id"], r2.json()["id"])


async def test_a_client_key_spelling_an_internal_key_reaches_no_internal_row(api: Api) -> None:
    template, user = await api.template(), await api.user()
    _, key = await new_key(api, "send")
    fire = f"scheduled-{uid('sch')}-2026-12-01T09:00:00Z"
    digest_key = f"digest:{user}:k:{uid('n')}"
    body = {"template": template, "user_id": user, "channels": ["in_app"], "data": {"name": "Ada"}}
    for caller in (api.stack.auth(key), api.h):
        for spelled in (digest_key, fire_key(fire), f"broadcast:{fire_key(fire)}", f"broadcast:{uid('b')}:{user}"):
            r = await api.http.post("/v1/notifications", json=body, headers={**caller, "Idempotency-Key": spelled})
            assert r.status_code == 202, r.text
            assert r.json()["id"] != notification_id_for_key(spelled)
            assert await notifications.get(api.stack.pool, notification_id_for_key(spelled)) is None
        # A schedule's fire derives its broadcast from `schedule:<fire>`: a client's broadcast never takes it.
        r = await api.http.post("/v1/broadcasts", headers={**caller, "Idempotency-Key": fire_key(fire)}, json={
            "template": template, "data": {"name": "Ada"}, "channels": ["in_app"], "audience": {"user_ids": [user]}})
        assert r.status_code == 202, r.text
        assert r.json()["id"] != fire_broadcast_id(fire)
        assert await broadcasts.get(api.stack.pool, fire_broadcast_id(fire)) is None


async def scheduled(api: Api, template: str, user: str, headers: dict[str, str]) -> dict[str, Any]:
    return await api.send(template, user_id=user, channels=["in_app"], send_at=later(), headers=headers)


async def test_a_send_key_reads_and_changes_only_what_it_created(api: Api) -> None:
    template, user = await api.template(), await api.user()
    (_, mine), (_, other) = await new_key(api, "send"), await new_key(api, "send")
    (_, reader), (_, admin) = await new_key(api, "read"), await new_key(api, "admin")
    own = await scheduled(api, template, user, api.stack.auth(mine))
    theirs = await scheduled(api, template, user, api.stack.auth(other))
    admins = await scheduled(api, template, user, api.h)
    h = api.stack.auth(mine)
    for foreign in (theirs, admins):
        fid = foreign["id"]
        answers = [
            await api.http.get(f"/v1/notifications/{fid}", headers=h),
            await api.http.post(f"/v1/notifications/{fid}/reschedule", json={"send_at": later()}, headers=h),
            await api.http.post(f"/v1/notifications/{fid}/send-now", headers=h),
            await api.http.patch(f"/v1/notifications/{fid}", json={"data": {"name": "Eve"}}, headers=h),
        ]
        for r in answers:
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    listed = (await api.http.get("/v1/notifications", params={"user_id": user}, headers=h)).json()["items"]
    assert [n["id"] for n in listed] == [own["id"]]
    assert (await api.http.get(f"/v1/notifications/{own['id']}", headers=h)).status_code == 200
    r = await api.http.patch(f"/v1/notifications/{own['id']}", json={"data": {"name": "Bo"}}, headers=h)
    assert r.status_code == 200, r.text
    # `read` and `admin` keys see everything; an admin key changes anyone's.
    for everyone in (reader, admin):
        listed = (await api.http.get("/v1/notifications", params={"user_id": user},
                                     headers=api.stack.auth(everyone))).json()["items"]
        assert {n["id"] for n in listed} == {own["id"], theirs["id"], admins["id"]}
    r = await api.http.patch(f"/v1/notifications/{theirs['id']}", json={"data": {"name": "Cy"}},
                             headers=api.stack.auth(admin))
    assert r.status_code == 200, r.text


async def test_a_send_key_follows_only_its_own_broadcasts(api: Api) -> None:
    template, user = await api.template(), await api.user()
    (_, mine), (_, other), (_, reader) = await new_key(api, "send"), await new_key(api, "send"), \
        await new_key(api, "read")
    body = {"template": template, "data": {"name": "Ada"}, "channels": ["in_app"], "audience": {"user_ids": [user]}}
    r = await api.http.post("/v1/broadcasts", json=body, headers=api.stack.auth(mine))
    assert r.status_code == 202, r.text
    broadcast = r.json()["id"]
    assert (await api.http.get(f"/v1/broadcasts/{broadcast}", headers=api.stack.auth(mine))).status_code == 200
    assert (await api.http.get(f"/v1/broadcasts/{broadcast}", headers=api.stack.auth(reader))).status_code == 200
    r = await api.http.get(f"/v1/broadcasts/{broadcast}", headers=api.stack.auth(other))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # The broadcast's notifications belong to the key that sent it.
    async def recipients() -> list[dict[str, Any]] | None:
        r = await api.http.get("/v1/notifications", params={"user_id": user}, headers=api.stack.auth(mine))
        items: list[dict[str, Any]] = r.json()["items"]
        return items or None
    assert len(await eventually(recipients, what="the broadcast's notification")) == 1
    r = await api.http.get("/v1/notifications", params={"user_id": user}, headers=api.stack.auth(other))
    assert r.json()["items"] == []


async def test_to_with_user_id_needs_admin(api: Api) -> None:
    template, user = await api.template(), await api.user(email="owner@example.com")
    _, key = await new_key(api, "send")
    body = {"template": template, "user_id": user, "channels": ["email"], "data": {"name": "Ada"},
            "to": {"email": "elsewhere@example.com"}}
    r = await api.http.post("/v1/notifications", json=body, headers=api.stack.auth(key))
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "forbidden" and "'admin'" in error["message"] and "details" in error
    r = await api.http.post("/v1/notifications/bulk", json={"notifications": [body]}, headers=api.stack.auth(key))
    assert r.status_code == 200 and r.json()["results"][0]["error"]["code"] == "forbidden", r.text
    assert await notifications.list_notifications(api.stack.pool, status=None, user_id=user, channel=None,
                                                  priority=None, after=None, limit=10) == []
    # Without `user_id`, or as the admin, it is an ordinary send.
    no_user = {k: v for k, v in body.items() if k != "user_id"}
    assert (await api.http.post("/v1/notifications", json=no_user, headers=api.stack.auth(key))).status_code == 202
    assert (await api.http.post("/v1/notifications", json=body, headers=api.h)).status_code == 202


async def stored_the_old_way(api: Api, key: str, payload: dict[str, Any], request_hash: str | None = None) -> str:
    """A row as the API stored a client's key before keys were scoped: the key as sent, no creating key."""
    nid = notification_id_for_key(key)
    body = NotificationCreate.model_validate(payload)
    # Such requests had no creating key, nor the fields added since (locale, actions): their fingerprint holds
    # none of them.
    old_hash = request_fingerprint(body.model_dump(mode="json", exclude={"idempotency_key", "locale", "actions"}))
    row, created = await notifications.insert(api.stack.pool, notifications.NewNotification(
        id=nid, idempotency_key=key,
        request_hash=request_hash or old_hash,
        workflow_id=notification_workflow_id(nid), status="scheduled", user_id=payload["user_id"], recipient={},
        channels=payload["channels"], priority="transactional", category=None, template=payload["template"],
        template_version=1, data=payload["data"], send_at=datetime.fromisoformat(payload["send_at"])))
    assert created and row.created_by is None
    return nid


async def test_a_repeat_of_a_request_accepted_before_keys_were_scoped_finds_its_notification(api: Api) -> None:
    template, user = await api.template(), await api.user()
    _, key = await new_key(api, "send")
    payload = {"template": template, "user_id": user, "channels": ["in_app"], "data": {"name": "Ada"},
               "send_at": later()}
    old = uid("old")
    nid = await stored_the_old_way(api, old, payload)
    r = await api.http.post("/v1/notifications", json=payload, headers={**api.stack.auth(key), "Idempotency-Key": old})
    assert r.status_code == 200 and r.json()["id"] == nid, r.text
    r = await api.http.post("/v1/notifications", json={**payload, "data": {"name": "Bo"}},
                            headers={**api.stack.auth(key), "Idempotency-Key": old})
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_conflict", r.text
    # Herald's own rows are never taken for a client's old row, whatever key the client spells.
    digest_key = f"digest:{user}:k:{uid('n')}"
    digest = await stored_the_old_way(api, digest_key, payload, request_hash="digest")
    r = await api.http.post("/v1/notifications", json=payload,
                            headers={**api.stack.auth(key), "Idempotency-Key": digest_key})
    assert r.status_code == 202 and r.json()["id"] != digest, r.text
