"""Escalation over HTTP: the read endpoint stops it; requests it cannot serve are refused."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import Api, eventually


async def test_reading_the_message_stops_the_escalation(api: Api) -> None:
    template = await api.template()
    phone = f"+3365{uuid.uuid4().int % 10**7:07d}"
    user_id = await api.user(phone=phone)
    n = await api.send(template, user_id=user_id, channels=["in_app"], escalate={"after": "3s", "to": ["sms"]})
    assert n["escalate"] == {"after": "3s", "to": ["sms"]}
    await api.until_status(n["id"], "delivered")
    r = await api.http.post(f"/v1/users/{user_id}/inbox/{n['id']}/read", headers=api.h)
    assert r.status_code == 204

    async def ended() -> dict[str, Any] | None:
        row = await api.get(n["id"])
        return row if row["timeline"][-1]["event"] == "read" else None
    await eventually(ended, timeout_s=10, what="the workflow to hear of the read")
    assert api.stack.http_receiver.for_key(phone) == []


async def test_an_unread_message_escalates_to_sms(api: Api) -> None:
    template = await api.template()
    phone = f"+3366{uuid.uuid4().int % 10**7:07d}"
    user_id = await api.user(phone=phone)
    n = await api.send(template, user_id=user_id, channels=["in_app"], escalate={"after": "1s", "to": ["sms"]})

    async def escalated() -> bool:
        event: str = (await api.get(n["id"]))["timeline"][-1]["event"]
        return event == "escalated"
    await eventually(escalated, timeout_s=15, what="the escalation")
    (call,) = api.stack.http_receiver.for_key(phone)
    assert call.verified and call.body["text"] == "Hello Ada"
    assert {d["channel"]: d["status"] for d in (await api.get(n["id"]))["deliveries"]} == {
        "in_app": "delivered", "sms": "delivered"}


async def test_escalations_that_cannot_work_are_refused(api: Api) -> None:
    template = await api.template()
    no_phone = await api.user()
    cases = [({"channels": ["sim"], "to": {"sim": "ok"}, "escalate": {"after": "1h", "to": ["sms"]}}, "body"),
             ({"channels": ["in_app"], "escalate": {"after": "1h", "to": ["push"]}}, "escalate.to"),
             ({"channels": ["in_app"], "escalate": {"after": "1h", "to": ["sms"]}}, "to"),
             ({"channels": ["in_app"], "escalate": {"after": "9d", "to": ["sms"]}}, "escalate.after")]
    for body, field in cases:
        r = await api.http.post("/v1/notifications", headers=api.h, json={
            "template": template, "data": {"name": "A"}, "user_id": no_phone, **body})
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"][0]["field"] == field, r.text
