"""The in-app inbox: a user token sees only its own user's items; read and read-all."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_conventions import assert_error


async def _user_with_items(api: Api, count: int) -> tuple[str, str, list[str]]:
    template = await api.template()
    user_id = await api.user()
    ids = []
    for _ in range(count):  # one at a time: the inbox lists items in the order they arrived
        ids.append((await api.send(template, user_id=user_id, channels=["in_app"]))["id"])
        await api.until_status(ids[-1], "delivered")
    token = (await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)).json()["token"]
    return user_id, token, ids


async def test_a_user_reads_and_marks_their_inbox(api: Api) -> None:
    user_id, token, ids = await _user_with_items(api, 3)
    mine = {"Authorization": f"Bearer {token}"}
    inbox = (await api.http.get(f"/v1/users/{user_id}/inbox", headers=mine)).json()
    assert inbox["unread_count"] == 3
    assert [i["notification_id"] for i in inbox["items"]] == list(reversed(ids))  # newest first
    assert all(i["read"] is False and i["subject"] == "Hi Ada" for i in inbox["items"])

    r = await api.http.post(f"/v1/users/{user_id}/inbox/{ids[0]}/read", headers=mine)
    assert r.status_code == 204
    inbox = (await api.http.get(f"/v1/users/{user_id}/inbox", headers=mine)).json()
    assert inbox["unread_count"] == 2
    unread = (await api.http.get(f"/v1/users/{user_id}/inbox?unread=true", headers=mine)).json()
    assert {i["notification_id"] for i in unread["items"]} == set(ids[1:])
    # Marking again is harmless; an unknown item is 404.
    assert (await api.http.post(f"/v1/users/{user_id}/inbox/{ids[0]}/read", headers=mine)).status_code == 204
    assert_error(await api.http.post(f"/v1/users/{user_id}/inbox/nope/read", headers=mine), 404, "not_found")

    assert (await api.http.post(f"/v1/users/{user_id}/inbox/read-all", headers=mine)).status_code == 204
    inbox = (await api.http.get(f"/v1/users/{user_id}/inbox", headers=mine)).json()
    assert inbox["unread_count"] == 0 and all(i["read"] for i in inbox["items"])


async def test_another_users_inbox_is_404(api: Api) -> None:
    alice, alice_token, _ = await _user_with_items(api, 1)
    bob, _, bob_ids = await _user_with_items(api, 1)
    as_alice = {"Authorization": f"Bearer {alice_token}"}
    assert_error(await api.http.get(f"/v1/users/{bob}/inbox", headers=as_alice), 404, "not_found")
    assert_error(await api.http.post(f"/v1/users/{bob}/inbox/{bob_ids[0]}/read", headers=as_alice), 404,
                 "not_found")
    assert_error(await api.http.post(f"/v1/users/{bob}/inbox/read-all", headers=as_alice), 404, "not_found")
    # Bob's item stayed unread; Alice cannot mark it through her own inbox path either.
    assert_error(await api.http.post(f"/v1/users/{alice}/inbox/{bob_ids[0]}/read", headers=as_alice), 404,
                 "not_found")
    bob_inbox = (await api.http.get(f"/v1/users/{bob}/inbox", headers=api.h)).json()
    assert bob_inbox["unread_count"] == 1


async def test_admin_reads_any_inbox_and_unknown_users_are_404(api: Api) -> None:
    user_id, _, ids = await _user_with_items(api, 2)
    page = (await api.http.get(f"/v1/users/{user_id}/inbox?limit=1", headers=api.h)).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = (await api.http.get(f"/v1/users/{user_id}/inbox", params={"limit": 1, "cursor": page["next_cursor"]},
                               headers=api.h)).json()
    assert [page["items"][0]["notification_id"], rest["items"][0]["notification_id"]] == list(reversed(ids))
    assert_error(await api.http.get("/v1/users/nobody/inbox", headers=api.h), 404, "not_found")
