"""Throttle over HTTP: the excess ends skipped with the reason; a throttle needs a user and a category."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_the_second_of_one_per_day_is_skipped_with_the_reason(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    rule = {"limit": 1, "period": "1d"}
    first = await api.send(template, user_id=user_id, channels=["in_app"], category="promo", throttle=rule)
    assert first["throttle"] == {"limit": 1, "period": "1d", "mode": "skip"}
    await api.until_status(first["id"], "delivered")
    second = await api.send(template, user_id=user_id, channels=["in_app"], category="promo", throttle=rule)
    skipped = await api.until_status(second["id"], "skipped")
    assert skipped["timeline"][-1]["detail"] == "throttled: 1 'promo' notification(s) per 1d already sent"


async def test_a_throttle_needs_a_user_and_a_category(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    for body in [{"user_id": user_id, "throttle": {"limit": 1, "period": "1d"}},
                 {"to": {"sim": "ok"}, "category": "promo", "throttle": {"limit": 1, "period": "1d"}},
                 {"user_id": user_id, "category": "promo", "throttle": {"limit": 0, "period": "1d"}},
                 {"user_id": user_id, "category": "promo", "throttle": {"limit": 1, "period": "1d", "mode": "x"}}]:
        r = await api.http.post("/v1/notifications", headers=api.h, json={
            "template": template, "data": {"name": "A"}, "channels": ["sim"] if "to" in body else ["in_app"],
            **body})
        assert r.status_code == 422, (body, r.text)
