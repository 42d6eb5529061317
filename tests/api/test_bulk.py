"""Bulk send: one result per item; valid items are accepted even when others are not."""

from __future__ import annotations

from tests.api.conftest import Api, uid
from tests.api.test_conventions import assert_error


async def test_mixed_items_each_get_their_own_answer(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    key = uid("bulk")
    inbox = {"template": template, "user_id": user_id, "channels": ["in_app"], "idempotency_key": key}
    sim = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"]}
    items = [
        {**inbox, "data": {"name": "A"}},
        {"template": template, "channels": ["in_app"], "data": {"name": "B"}},  # no recipient
        {**sim, "template": "no-such-template"},  # unknown template
        {**sim, "data": {}},  # missing variable
        {**sim, "data": {"name": "C"}},
        {**inbox, "data": {"name": "Z"}},  # the first item's key with another body
    ]
    r = await api.http.post("/v1/notifications/bulk", json={"notifications": items}, headers=api.h)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == list(range(6))
    assert [x["status"] for x in results[:5]] == ["accepted", "invalid", "invalid", "invalid", "accepted"]
    assert results[5]["status"] == "conflict"  # same key, different body
    assert results[1]["error"]["code"] == "validation_error"
    assert results[2]["error"]["code"] == "unknown_template"
    assert results[3]["error"]["code"] == "missing_variable"
    assert r.json()["counts"] == {"accepted": 2, "invalid": 3, "conflict": 1}
    for accepted in (results[0], results[4]):
        await api.until_status(accepted["notification"]["id"], "delivered")
    # Sending the same batch again accepts nothing new.
    again = (await api.http.post("/v1/notifications/bulk", json={"notifications": items[:1]}, headers=api.h)).json()
    assert again["results"][0]["status"] == "duplicate"
    assert again["results"][0]["notification"]["id"] == results[0]["notification"]["id"]


async def test_a_batch_over_one_thousand_is_refused(api: Api) -> None:
    item = {"template": "t", "to": {"sim": "ok"}, "channels": ["sim"]}
    r = await api.http.post("/v1/notifications/bulk", json={"notifications": [item] * 1001}, headers=api.h)
    assert "notifications" in str(assert_error(r, 422, "validation_error")["details"])
