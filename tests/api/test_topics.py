"""Topic subscriptions through the API, kept in step with `topics` on the user."""

from __future__ import annotations

from tests.api.conftest import Api, uid
from tests.api.test_conventions import assert_error


async def test_subscribe_list_and_unsubscribe(api: Api) -> None:
    topic = uid("news")
    a, b, c = [await api.user() for _ in range(3)]
    r = await api.http.post(f"/v1/topics/{topic}/subscribers", json={"user_ids": [a, b, c]}, headers=api.h)
    assert r.json() == {"topic": topic, "changed": 3}
    again = await api.http.post(f"/v1/topics/{topic}/subscribers", json={"user_ids": [a]}, headers=api.h)
    assert again.json()["changed"] == 0  # already subscribed: nothing doubles
    assert (await api.http.get(f"/v1/users/{a}", headers=api.h)).json()["topics"] == [topic]

    page = (await api.http.get(f"/v1/topics/{topic}/subscribers?limit=2", headers=api.h)).json()
    rest = (await api.http.get(f"/v1/topics/{topic}/subscribers", params={"cursor": page["next_cursor"]},
                               headers=api.h)).json()
    assert page["items"] + rest["items"] == sorted([a, b, c]) and rest["next_cursor"] is None

    r = await api.http.request("DELETE", f"/v1/topics/{topic}/subscribers", json={"user_ids": [a, b]}, headers=api.h)
    assert r.json()["changed"] == 2
    assert (await api.http.delete(f"/v1/topics/{topic}/subscribers/{c}", headers=api.h)).status_code == 204
    assert (await api.http.get(f"/v1/topics/{topic}/subscribers", headers=api.h)).json()["items"] == []


async def test_unknown_users_are_refused_and_nothing_changes(api: Api) -> None:
    topic = uid("news")
    known = await api.user()
    r = await api.http.post(f"/v1/topics/{topic}/subscribers", json={"user_ids": [known, "ghost"]}, headers=api.h)
    error = assert_error(r, 422, "unknown_user")
    assert error["details"][0]["missing"] == ["ghost"]  # type: ignore[index]
    assert (await api.http.get(f"/v1/users/{known}", headers=api.h)).json()["topics"] == []
    r = await api.http.post("/v1/topics/bad%20name/subscribers", json={"user_ids": [known]}, headers=api.h)
    assert_error(r, 422, "validation_error")
