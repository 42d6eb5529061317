"""Suppressions over HTTP: the contract's list, add and remove, addresses in one normal form, and a delivery to a
suppressed address skipped (reason `suppressed`) whatever the priority, with no provider called."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.conftest import Api, uid
from tests.conftest import Stack


def email() -> str:
    return f"{uid('Bounce')}@Example.COM"


async def test_add_list_and_remove(api: Api) -> None:
    address = email()
    r = await api.http.post("/v1/suppressions", json={"channel": "email", "address": address, "reason": "asked"},
                            headers=api.h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["channel"], created["address"], created["reason"], created["source"]) == \
        ("email", address.lower(), "asked", "api")
    assert created["created_at"].endswith(("Z", "+00:00"))

    # Any spelling of the address finds the one suppression.
    r = await api.http.get("/v1/suppressions", params={"channel": "email", "address": address.upper()},
                           headers=api.h)
    assert r.status_code == 200 and [i["address"] for i in r.json()["items"]] == [address.lower()]
    assert r.json()["next_cursor"] is None
    again = await api.http.post("/v1/suppressions", json={"channel": "email", "address": address.lower()},
                                headers=api.h)
    assert again.status_code == 201 and again.json()["reason"] == "asked"  # the first reason stays

    r = await api.http.delete(f"/v1/suppressions/email/{quote(address)}", headers=api.h)
    assert r.status_code == 204
    r = await api.http.get("/v1/suppressions", params={"channel": "email", "address": address}, headers=api.h)
    assert r.json()["items"] == []
    r = await api.http.delete(f"/v1/suppressions/email/{quote(address)}", headers=api.h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_phone_numbers_are_stored_in_e164(api: Api) -> None:
    r = await api.http.post("/v1/suppressions", json={"channel": "sms", "address": "+1 (415) 555-0123"},
                            headers=api.h)
    assert r.status_code == 201, r.text
    assert r.json()["address"] == "+14155550123" and r.json()["reason"] == "manual"
    # A `+` left unencoded in a query string arrives as a space.
    r = await api.http.get("/v1/suppressions?channel=sms&address=+14155550123", headers=api.h)
    assert [i["address"] for i in r.json()["items"]] == ["+14155550123"]
    r = await api.http.delete(f"/v1/suppressions/sms/{quote('+1 415 555 0123')}", headers=api.h)
    assert r.status_code == 204


@pytest.mark.parametrize(("body", "field"), [
    ({"channel": "fax", "address": "x"}, "channel"),
    ({"channel": "email", "address": "not-an-email"}, "address"),
    ({"channel": "sms", "address": "12"}, "address"),
    ({"channel": "email"}, "address"),
    ({"channel": "email", "address": "a@b.c", "reason": "x" * 501}, "reason"),
    ({"channel": "email", "address": "a@b.c", "extra": 1}, "extra"),
])
async def test_bad_input_is_a_422_naming_the_field(api: Api, body: dict[str, object], field: str) -> None:
    r = await api.http.post("/v1/suppressions", json=body, headers=api.h)
    assert r.status_code == 422, r.text
    assert field in r.text


async def test_pages_follow_the_cursor(api: Api) -> None:
    added = []
    for _ in range(3):
        r = await api.http.post("/v1/suppressions", json={"channel": "push", "address": uid("tok")}, headers=api.h)
        added.append(r.json()["address"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"channel": "push", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/v1/suppressions", params=params, headers=api.h)).json()
        seen += [i["address"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(added) <= set(seen) and len(seen) == len(set(seen))


async def test_only_an_admin_key_changes_them(api: Api, stack: Stack) -> None:
    r = await api.http.post("/v1/suppressions", json={"channel": "email", "address": email()})
    assert r.status_code == 401
    r = await api.http.post("/v1/keys", json={"name": uid("reader"), "scopes": ["read"]}, headers=api.h)
    reader = r.json()["key"]
    r = await api.http.post("/v1/suppressions", json={"channel": "email", "address": email()},
                            headers=stack.auth(reader))
    assert r.status_code == 403
    assert (await api.http.get("/v1/suppressions", headers=stack.auth(reader))).status_code == 200


@pytest.mark.parametrize("priority", ["otp", "transactional", "marketing"])
async def test_a_suppressed_address_is_skipped_whatever_the_priority(api: Api, stack: Stack, priority: str) -> None:
    address = email()
    r = await api.http.post("/v1/suppressions", json={"channel": "email", "address": address.lower(),
                                                      "reason": "hard bounce"}, headers=api.h)
    assert r.status_code == 201
    tpl = await api.template()
    sent = await api.send(tpl, to={"email": address}, channels=["email"], priority=priority)
    done = await api.until_status(sent["id"], "skipped")
    [delivery] = done["deliveries"]
    assert delivery["status"] == "skipped" and delivery["attempts"] == 0
    assert delivery["provider_message_id"] is None
    skipped = [e for e in done["timeline"] if e["event"] == "skipped"]
    assert skipped and skipped[-1]["detail"].startswith("suppressed:") and "hard bounce" in skipped[-1]["detail"]
    assert stack.smtp.tries[address] == 0 and stack.smtp.tries[address.lower()] == 0


async def test_only_the_suppressed_channel_is_skipped(api: Api, stack: Stack) -> None:
    address = email()
    await api.http.post("/v1/suppressions", json={"channel": "email", "address": address}, headers=api.h)
    tpl = await api.template()
    sent = await api.send(tpl, to={"email": address, "sim": "ok"}, channels=["email", "sim"])
    done = await api.until_status(sent["id"], "delivered")
    assert {d["channel"]: d["status"] for d in done["deliveries"]} == {"email": "skipped", "sim": "delivered"}
    assert "skipped as suppressed: email" in done["timeline"][-1]["detail"]
    assert stack.smtp.tries[address.lower()] == 0


async def test_text_postgresql_cannot_hold_is_a_422_too(api: Api) -> None:
    r = await api.http.post("/v1/suppressions", json={"channel": "push", "address": "tok\u0000en"}, headers=api.h)
    assert r.status_code == 422 and "address" in r.text
    r = await api.http.get("/v1/suppressions", params={"address": "a\u0000b"}, headers=api.h)
    assert r.status_code == 422
    r = await api.http.delete("/v1/suppressions/push/a%00b", headers=api.h)
    assert r.status_code == 422
    r = await api.http.get("/v1/suppressions", params={"channel": "fax"}, headers=api.h)
    assert r.status_code == 422 and "channel" in r.text
