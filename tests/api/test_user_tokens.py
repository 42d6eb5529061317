"""User tokens: a lifetime, revocation, a request rate of their own, and a bound on open inbox streams."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from services import inbox as inbox_service
from tests.api.conftest import Api, eventually
from tests.conftest import free_port
from tests.processes import api_process

SIGNING_KEY = "inbox-signing-key-of-the-customer-" + "k" * 40


async def issue(api: Api, user_id: str, **body: Any) -> dict[str, Any]:
    r = await api.http.post(f"/v1/users/{user_id}/tokens", json=body or None, headers=api.h)
    assert r.status_code == 201, r.text
    token: dict[str, Any] = r.json()
    assert token["token"].startswith("hut_") and token["id"].startswith("tok_")
    return token


async def test_a_token_expires_and_is_revoked_at_once(api: Api) -> None:
    user = await api.user()
    inbox = f"/v1/users/{user}/inbox"
    default, day = await issue(api, user), await issue(api, user, ttl="1d")
    now = datetime.now(UTC)
    # The default lifetime is 30 days (minutes of slack for a slow machine).
    assert abs(datetime.fromisoformat(default["expires_at"]) - (now + timedelta(days=30))) < timedelta(minutes=5)
    assert abs(datetime.fromisoformat(day["expires_at"]) - (now + timedelta(days=1))) < timedelta(minutes=5)
    for token in (default, day):
        assert (await api.http.get(inbox, headers=api.stack.auth(token["token"]))).status_code == 200

    assert (await api.http.delete(f"/v1/users/{user}/tokens/{default['id']}", headers=api.h)).status_code == 204
    r = await api.http.get(inbox, headers=api.stack.auth(default["token"]))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert (await api.http.delete(f"/v1/users/{user}/tokens/{default['id']}", headers=api.h)).status_code == 204
    other = await api.user()
    r = await api.http.delete(f"/v1/users/{other}/tokens/{day['id']}", headers=api.h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"  # another user's token
    assert (await api.http.get(inbox, headers=api.stack.auth(day["token"]))).status_code == 200

    # Expired: moved into the past in the database rather than waited for.
    await api.stack.pool.execute("UPDATE user_token SET expires_at = now() - interval '1 second' WHERE id = $1",
                                 day["id"])
    r = await api.http.get(inbox, headers=api.stack.auth(day["token"]))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_a_token_lifetime_is_bounded(api: Api) -> None:
    user = await api.user()
    for ttl, field in (("366d", "ttl"), ("forever", "ttl"), ("0d", "ttl")):
        r = await api.http.post(f"/v1/users/{user}/tokens", json={"ttl": ttl}, headers=api.h)
        assert r.status_code == 422, r.text
        assert field in {d["field"] for d in r.json()["error"]["details"]}
    assert (await api.http.post(f"/v1/users/{user}/tokens", json={"ttl": "365d"}, headers=api.h)).status_code == 201


async def test_a_token_has_a_rate_and_a_bounded_number_of_streams(api: Api) -> None:
    user = await api.user()
    limited, streaming = await issue(api, user), await issue(api, user)
    settings = api.stack.settings
    env = {"DATABASE_URL": str(settings.database_url), "TEMPORAL_ADDRESS": str(settings.temporal_address),
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TOKEN_RATE_PER_S": "0.001",
           "HERALD_TOKEN_BURST": "20", "HERALD_TOKEN_MAX_STREAMS": "2"}
    async with api_process(env, free_port()) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        inbox = f"/v1/users/{user}/inbox"
        answers = [await http.get(inbox, headers=api.stack.auth(limited["token"])) for _ in range(21)]
        assert [r.status_code for r in answers] == [200] * 20 + [429]
        assert answers[-1].json()["error"]["code"] == "rate_limited" and int(answers[-1].headers["retry-after"]) >= 1

        headers = api.stack.auth(streaming["token"])
        async with http.stream("GET", f"{inbox}/stream", headers=headers) as one, \
                http.stream("GET", f"{inbox}/stream", headers=headers) as two:
            assert (one.status_code, two.status_code) == (200, 200)
            r = await http.get(f"{inbox}/stream", headers=headers)
            assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_streams", r.text
            # Other tokens of the same user are not held back by this one.
            async with http.stream("GET", f"{inbox}/stream", headers=api.stack.auth(limited["token"])) as other:
                assert other.status_code == 429  # its own rate is used up, not its streams
                assert (await other.aread()) and other.headers.get("retry-after")

        async def reopened() -> bool | None:
            async with http.stream("GET", f"{inbox}/stream", headers=headers) as again:
                return True if again.status_code == 200 else None
        # A closed stream gives its slot back once the server notices the client left.
        assert await eventually(reopened, what="a slot of a closed stream to be free")


def signed(claims: dict[str, Any], key: str = SIGNING_KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


async def test_a_customer_signed_token_opens_its_user_inbox_only(api: Api) -> None:
    user, other = await api.user(), await api.user()
    settings = api.stack.settings
    env = {"DATABASE_URL": str(settings.database_url), "TEMPORAL_ADDRESS": str(settings.temporal_address),
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_INBOX_SIGNING_KEY": SIGNING_KEY,
           "HERALD_TOKEN_RATE_PER_S": "0.001", "HERALD_TOKEN_BURST": "6"}
    soon = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    async with api_process(env, free_port()) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        def auth(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}
        good = signed({"sub": user, "exp": soon})
        assert (await http.get(f"/v1/users/{user}/inbox", headers=auth(good))).status_code == 200
        r = await http.get(f"/v1/users/{other}/inbox", headers=auth(good))
        assert r.status_code == 404, r.text  # another user's inbox does not exist for this token
        assert (await http.get("/v1/notifications", headers=auth(good))).status_code == 403
        refused = {
            "expired": signed({"sub": user, "exp": int(datetime.now(UTC).timestamp()) - 60}),
            "no exp": signed({"sub": user}),
            "no sub": signed({"exp": soon}),
            "another key": signed({"sub": user, "exp": soon}, key="x" * 80),
            "another algorithm": signed({"sub": user, "exp": soon}, algorithm="HS512"),
            "unsigned": jwt.encode({"sub": user, "exp": soon}, "", algorithm="none"),
            "beyond a year": signed({"sub": user, "exp": int((datetime.now(UTC) + timedelta(days=400)).timestamp())}),
        }
        for what, token in refused.items():
            r = await http.get(f"/v1/users/{user}/inbox", headers=auth(token))
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (what, r.text)
        # Counted per user: fresh tokens of the same user share the budget (6: three used above, three here).
        answers = [await http.get(f"/v1/users/{user}/inbox", headers=auth(signed({"sub": user, "exp": soon + i})))
                   for i in range(4)]
        assert [r.status_code for r in answers] == [200] * 3 + [429]
        assert answers[-1].json()["error"]["code"] == "rate_limited"


async def test_the_stream_of_a_revoked_token_ends(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox_service, "HEARTBEAT_S", 0.2)  # the stack's API runs in this process
    user = await api.user()
    token = await issue(api, user)
    async with api.http.stream("GET", f"/v1/users/{user}/inbox/stream", headers=api.stack.auth(token["token"])) as r:
        assert r.status_code == 200
        chunks = r.aiter_text()
        assert "retry:" in await anext(chunks)
        assert (await api.http.delete(f"/v1/users/{user}/tokens/{token['id']}", headers=api.h)).status_code == 204

        async def drain() -> None:
            async for _ in chunks:
                pass
        await asyncio.wait_for(drain(), timeout=30)  # ends at the next heartbeat; without the check, never
