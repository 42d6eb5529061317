"""Notifications through the API on the real stack: accept, deliver, idempotency, cancel, retry, DLQ."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.api.conftest import Api, eventually, uid
from tests.api.test_conventions import assert_error


async def test_accepted_then_delivered_with_timeline(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    n = await api.send(template, user_id=user_id, to={"sim": "ok"}, channels=["sim", "in_app"])
    assert n["status"] == "accepted" and n["workflow_id"] == f"notification-{n['id']}"
    assert n["template_version"] == 1 and n["priority"] == "transactional"
    assert sorted(d["channel"] for d in n["deliveries"]) == ["in_app", "sim"]
    done = await api.until_status(n["id"], "delivered")
    assert done["delivered_at"] is not None and done["attempts"] == 2
    assert {d["channel"]: d["status"] for d in done["deliveries"]} == {"sim": "delivered", "in_app": "delivered"}
    assert [e["event"] for e in done["timeline"]] == ["accepted", "started", "processing", "delivered"]


async def test_retrying_then_delivered(api: Api) -> None:
    template = await api.template()
    n = await api.send(template, to={"sim": "flaky:2"}, channels=["sim"])
    done = await api.until_status(n["id"], "delivered")
    assert done["attempts"] == 3
    assert [e["event"] for e in done["timeline"]].count("retrying") == 2


async def test_a_repeat_answers_200_even_after_its_template_is_deleted(api: Api) -> None:
    # The accept path validates before it looks for a repeat: a repeat must not be refused for what changed.
    template = await api.template()
    user_id = await api.user()
    key = uid("key")
    first = await api.send(template, user_id=user_id, channels=["in_app"], headers={"Idempotency-Key": key})
    assert (await api.http.delete(f"/v1/templates/{template}", headers=api.h)).status_code == 204
    again = await api.send(template, user_id=user_id, channels=["in_app"], headers={"Idempotency-Key": key},
                           expect=200)
    assert again["id"] == first["id"]
    # A different body under that key is still a conflict, even though it would not validate either.
    r = await api.http.post("/v1/notifications", headers={**api.h, "Idempotency-Key": key},
                            json={"template": template, "user_id": user_id, "channels": ["sim"], "data": {}})
    assert assert_error(r, 409, "idempotency_conflict")["details"] == {"notification_id": first["id"]}


async def test_same_key_same_body_is_200_and_different_body_is_409(api: Api) -> None:
    template = await api.template()
    key = uid("key")
    first = await api.send(template, to={"sim": "ok"}, channels=["sim"], headers={"Idempotency-Key": key})
    again = await api.send(template, to={"sim": "ok"}, channels=["sim"], headers={"Idempotency-Key": key},
                           expect=200)
    assert again["id"] == first["id"]
    r = await api.http.post("/v1/notifications", json={"template": template, "to": {"sim": "ok"}, "channels": ["sim"],
                                                       "data": {"name": "Eve"}},
                            headers={**api.h, "Idempotency-Key": key})
    assert assert_error(r, 409, "idempotency_conflict")["details"] == {"notification_id": first["id"]}
    # The key in the body works the same way, and key order in the body does not matter.
    body_key = uid("key")
    one = await api.send(template, to={"sim": "ok"}, channels=["sim"], idempotency_key=body_key)
    two = await api.http.post("/v1/notifications", headers=api.h, json={
        "idempotency_key": body_key, "channels": ["sim"], "to": {"sim": "ok"}, "data": {"name": "Ada"},
        "template": template})
    assert two.status_code == 200 and two.json()["id"] == one["id"]
    # The header wins over the body.
    header_wins = await api.send(template, to={"sim": "ok"}, channels=["sim"], idempotency_key=body_key,
                                 headers={"Idempotency-Key": key}, expect=200)
    assert header_wins["id"] == first["id"]


async def test_fifty_concurrent_identical_requests_make_one_workflow_and_one_delivery(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    key = uid("burst")
    body = {"template": template, "user_id": user_id, "channels": ["in_app"], "data": {"name": "Ada"}}
    responses = await asyncio.gather(*(api.http.post("/v1/notifications", json=body,
                                                     headers={**api.h, "Idempotency-Key": key}) for _ in range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(202) == 1 and codes.count(200) == 49, codes
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    nid = ids.pop()
    await api.until_status(nid, "delivered")
    workflows = [w async for w in api.stack.temporal.list_workflows(f'WorkflowId = "notification-{nid}"')]
    assert len(workflows) == 1
    items = (await api.http.get(f"/v1/users/{user_id}/inbox", headers=api.h)).json()["items"]
    assert [i["notification_id"] for i in items] == [nid]
    assert await api.stack.pool.fetchval("SELECT count(*) FROM delivery_attempt WHERE notification_id = $1", nid) == 1


async def test_refusals_name_what_is_wrong(api: Api) -> None:
    template = await api.template(body="Code {{ code }}")
    user_id = await api.user()
    cases = [
        ({"template": "no-such-template", "to": {"sim": "ok"}, "channels": ["sim"]}, "unknown_template"),
        ({"template": template, "user_id": "nobody", "channels": ["in_app"], "data": {"code": 1}}, "unknown_user"),
        ({"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {}}, "missing_variable"),
        ({"template": template, "to": {"push": "device-token"}, "channels": ["push"], "data": {"code": 1}},
         "channel_unavailable"),
        ({"template": template, "user_id": user_id, "channels": ["sim"], "data": {"code": 1}}, "missing_address"),
        ({"template": template, "to": {"sim": "sometimes"}, "channels": ["sim"], "data": {"code": 1}},
         "validation_error"),
        ({"template": template, "to": {"in_app": "x"}, "channels": ["in_app"], "data": {"code": 1}},
         None),  # in_app without a user is refused below
        ({"template": template, "channels": ["sim"], "data": {"code": 1}}, "validation_error"),
        ({"template": template, "to": {"sim": "ok"}, "channels": ["sim", "sim"], "data": {"code": 1}},
         "validation_error"),
        ({"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"code": 1},
          "send_at": "2026-11-22T10:00:00"}, "validation_error"),
        ({"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"code": 1}, "priority": "urgent"},
         "validation_error"),
    ]
    for body, code in cases:
        if code is None:
            continue
        r = await api.http.post("/v1/notifications", json=body, headers=api.h)
        assert_error(r, 422, code)
    assert (await api.stack.pool.fetchval("SELECT count(*) FROM notification WHERE template = $1", template)) == 0


async def test_in_app_without_a_user_is_dead_lettered_not_lost(api: Api) -> None:
    template = await api.template()
    n = await api.send(template, to={"in_app": "someone"}, channels=["in_app"])
    parked = await api.until_status(n["id"], "dead_lettered")
    assert "no user" in parked["last_error"]


async def test_list_filters_and_pages(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    ids = [(await api.send(template, user_id=user_id, to={"sim": "ok"}, channels=["sim"], priority="marketing"))["id"]
           for _ in range(3)]
    for nid in ids:
        await api.until_status(nid, "delivered")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"user_id": user_id, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/v1/notifications", params=params, headers=api.h)).json()
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))  # newest first
    for params, expected in [({"status": "delivered"}, 3), ({"status": "dead_lettered"}, 0),
                             ({"channel": "sim"}, 3), ({"channel": "in_app"}, 0), ({"priority": "marketing"}, 3),
                             ({"priority": "otp"}, 0)]:
        page = (await api.http.get("/v1/notifications", params={"user_id": user_id, **params}, headers=api.h)).json()
        assert len(page["items"]) == expected, params


async def test_scheduled_then_canceled(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    n = await api.send(template, user_id=user_id, channels=["in_app"], send_at=send_at)
    assert n["status"] == "scheduled"
    r = await api.http.post(f"/v1/notifications/{n['id']}/cancel", headers=api.h)
    assert r.status_code == 202
    done = await api.until_status(n["id"], "canceled")
    assert done["deliveries"][0]["status"] == "canceled"
    assert_error(await api.http.post(f"/v1/notifications/{n['id']}/cancel", headers=api.h), 409, "already_final")
    inbox = (await api.http.get(f"/v1/users/{user_id}/inbox", headers=api.h)).json()
    assert inbox["items"] == []


async def test_send_at_in_the_past_sends_now(api: Api) -> None:
    template = await api.template()
    n = await api.send(template, to={"sim": "ok"}, channels=["sim"],
                       send_at=(datetime.now(UTC) - timedelta(minutes=5)).isoformat())
    assert n["status"] == "accepted"
    await api.until_status(n["id"], "delivered")


async def test_dead_letter_retry_discard_through_the_api(api: Api) -> None:
    template = await api.template()
    flaky = await api.send(template, to={"sim": "flaky:4"}, channels=["sim"])
    rejected = await api.send(template, to={"sim": "reject"}, channels=["sim"])
    parked = await api.until_status(flaky["id"], "dead_lettered")
    assert parked["attempts"] == 3 and parked["deliveries"][0]["status"] == "dead_lettered"
    await api.until_status(rejected["id"], "dead_lettered")
    # The DLQ lists both, with the fields of the contract.
    async def both_listed() -> list[dict[str, object]] | None:
        items = (await api.http.get("/v1/dlq?channel=sim&limit=500", headers=api.h)).json()["items"]
        mine = [i for i in items if i["notification_id"] in (flaky["id"], rejected["id"])]
        return mine if len(mine) == 2 else None
    listed = await eventually(both_listed, what="both in the DLQ")
    assert set(listed[0]) == {"notification_id", "workflow_id", "channel", "error", "attempts", "dead_lettered_at"}
    assert (await api.http.get("/v1/dlq?channel=in_app&limit=500", headers=api.h)).json()["items"] == [] or all(
        i["channel"] == "in_app" for i in (await api.http.get("/v1/dlq?channel=in_app", headers=api.h)).json()["items"])

    assert_error(await api.http.post(f"/v1/notifications/{template}/retry", headers=api.h), 404, "not_found")
    r = await api.http.post(f"/v1/notifications/{flaky['id']}/retry", headers=api.h)
    assert r.status_code == 202
    done = await api.until_status(flaky["id"], "delivered")
    assert done["attempts"] == 5  # attempts keep counting across the redrive
    assert_error(await api.http.post(f"/v1/notifications/{flaky['id']}/retry", headers=api.h), 409,
                 "not_dead_lettered")

    r = await api.http.post(f"/v1/dlq/{rejected['id']}/discard", headers=api.h)
    assert r.status_code == 202
    await api.until_status(rejected["id"], "discarded")
    assert_error(await api.http.post(f"/v1/dlq/{rejected['id']}/discard", headers=api.h), 409, "not_dead_lettered")
    remaining = (await api.http.get("/v1/dlq?limit=500", headers=api.h)).json()["items"]
    assert not {flaky["id"], rejected["id"]} & {i["notification_id"] for i in remaining}


async def test_bulk_dlq_retry_by_ids(api: Api) -> None:
    template = await api.template()
    ns = [await api.send(template, to={"sim": "flaky:3"}, channels=["sim"]) for _ in range(2)]
    other = await api.send(template, to={"sim": "fail"}, channels=["sim"])
    for n in [*ns, other]:
        await api.until_status(n["id"], "dead_lettered")

    async def listed() -> bool:
        items = (await api.http.get("/v1/dlq?limit=500", headers=api.h)).json()["items"]
        return {n["id"] for n in [*ns, other]} <= {i["notification_id"] for i in items}
    await eventually(listed, what="DLQ rows")
    r = await api.http.post("/v1/dlq/retry", json={"ids": [n["id"] for n in ns]}, headers=api.h)
    assert r.status_code == 202 and r.json() == {"retried": 2}
    for n in ns:
        await api.until_status(n["id"], "delivered")
    assert (await api.get(other["id"]))["status"] == "dead_lettered"  # not in the list: untouched
    await api.http.post(f"/v1/notifications/{other['id']}/cancel", headers=api.h)
    await api.until_status(other["id"], "canceled")
