"""Who may do what: API keys with scopes, user tokens, revocation, and per-key rate limits across API processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from core.ids import hash_secret
from tests.api.conftest import Api, uid
from tests.conftest import free_port
from tests.processes import api_process

A, S, R, U = "admin", "send", "read", "user"
PUBLIC = {("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"),
          # Vendors' delivery feedback: authenticated by the vendor's own signature, never a Herald key.
          ("POST", "/v1/feedback/{integration_id}")}
# Every operation of /openapi.json and who may call it. "user" is a user token on its own inbox.
POLICY: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/templates"): {A},
    ("GET", "/v1/templates"): {A, R},
    ("GET", "/v1/templates/{name}"): {A, R},
    ("PUT", "/v1/templates/{name}"): {A},
    ("DELETE", "/v1/templates/{name}"): {A},
    ("POST", "/v1/templates/{name}/preview"): {A, R},
    ("PUT", "/v1/templates/{name}/locales/{locale}"): {A},
    ("GET", "/v1/templates/{name}/locales"): {A, R},
    ("DELETE", "/v1/templates/{name}/locales/{locale}"): {A},
    ("POST", "/v1/users"): {A},
    ("GET", "/v1/users"): {A, R},
    ("GET", "/v1/users/{user_id}"): {A, R},
    ("PATCH", "/v1/users/{user_id}"): {A},
    ("POST", "/v1/users/{user_id}/tokens"): {A},
    ("DELETE", "/v1/users/{user_id}/tokens/{token_id}"): {A},
    ("POST", "/v1/topics/{name}/subscribers"): {A},
    ("DELETE", "/v1/topics/{name}/subscribers"): {A},
    ("GET", "/v1/topics/{name}/subscribers"): {A, R},
    ("DELETE", "/v1/topics/{name}/subscribers/{user_id}"): {A},
    ("POST", "/v1/notifications"): {A, S},
    ("GET", "/v1/notifications"): {A, S, R},
    ("POST", "/v1/notifications/bulk"): {A, S},
    ("GET", "/v1/notifications/{notification_id}"): {A, S, R},
    ("POST", "/v1/notifications/{notification_id}/cancel"): {A},
    ("POST", "/v1/notifications/{notification_id}/retry"): {A},
    ("POST", "/v1/notifications/{notification_id}/reschedule"): {A, S},
    ("POST", "/v1/notifications/{notification_id}/send-now"): {A, S},
    ("PATCH", "/v1/notifications/{notification_id}"): {A, S},
    ("POST", "/v1/broadcasts"): {A, S},
    ("GET", "/v1/broadcasts/{broadcast_id}"): {A, S, R},
    ("POST", "/v1/broadcasts/{broadcast_id}/cancel"): {A},
    ("POST", "/v1/schedules"): {A},
    ("GET", "/v1/schedules"): {A, R},
    ("GET", "/v1/schedules/{schedule_id}"): {A, R},
    ("POST", "/v1/schedules/{schedule_id}/pause"): {A},
    ("POST", "/v1/schedules/{schedule_id}/resume"): {A},
    ("POST", "/v1/schedules/{schedule_id}/trigger"): {A},
    ("DELETE", "/v1/schedules/{schedule_id}"): {A},
    ("GET", "/v1/dlq"): {A, R},
    ("POST", "/v1/dlq/retry"): {A},
    ("POST", "/v1/dlq/{notification_id}/discard"): {A},
    ("GET", "/v1/users/{user_id}/inbox"): {A, R, U},
    ("GET", "/v1/users/{user_id}/inbox/stream"): {A, R, U},
    ("POST", "/v1/users/{user_id}/inbox/read-all"): {A, U},
    ("POST", "/v1/users/{user_id}/inbox/{notification_id}/read"): {A, U},
    ("GET", "/v1/keys"): {A},
    ("POST", "/v1/keys"): {A},
    ("DELETE", "/v1/keys/{key_id}"): {A},
    ("POST", "/codec/{operation}"): {A},
    ("POST", "/v1/webhooks"): {A},
    ("GET", "/v1/webhooks"): {A, R},
    ("GET", "/v1/webhooks/{webhook_id}"): {A, R},
    ("DELETE", "/v1/webhooks/{webhook_id}"): {A},
    ("GET", "/v1/webhooks/{webhook_id}/dead-letters"): {A, R},
    ("POST", "/v1/webhooks/{webhook_id}/dead-letters/retry"): {A},
    ("POST", "/v1/webhooks/{webhook_id}/dead-letters/{event_id}/discard"): {A},
    ("GET", "/v1/suppressions"): {A, R},
    ("POST", "/v1/suppressions"): {A},
    ("DELETE", "/v1/suppressions/{channel}/{address}"): {A},
}


async def new_key(api: Api, *scopes: str, **extra: Any) -> tuple[str, str]:
    r = await api.http.post("/v1/keys", json={"name": uid("key"), "scopes": list(scopes), **extra},
                            headers=api.h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["key"].startswith("hk_") and body["scopes"] == list(scopes)
    return body["id"], body["key"]


async def new_token(api: Api, user_id: str) -> str:
    r = await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


async def test_every_operation_has_a_policy(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    operations = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert operations - PUBLIC - set(POLICY) == set(), "a new endpoint needs a row in POLICY"
    assert set(POLICY) - operations == set(), "POLICY names an endpoint that no longer exists"


async def test_who_may_do_what(api: Api) -> None:
    """Every endpoint, as: no key / a wrong key / each scope / a user token / another user's token."""
    template = await api.template()
    owner, stranger = await api.user(email="owner@example.com"), await api.user()
    sent = await api.send(template, user_id=owner, channels=["in_app"])
    r = await api.http.post("/v1/broadcasts", headers=api.h, json={
        "template": template, "data": {"name": "Ada"}, "channels": ["in_app"], "audience": {"user_ids": [owner]}})
    assert r.status_code == 202, r.text
    broadcast = r.json()["id"]
    # Yearly and paused: the schedules this test makes never fire by themselves.
    def schedule() -> dict[str, Any]:
        return {"id": uid("sch"), "cron": "0 9 1 1 *", "paused": True, "template": template,
                "data": {"name": "Ada"}, "channels": ["in_app"], "audience": {"user_ids": [owner]}}
    r = await api.http.post("/v1/schedules", headers=api.h, json=schedule())
    assert r.status_code == 201, r.text
    schedule_id = r.json()["id"]
    spare_key, _ = await new_key(api, "read")
    keys = {A: (await new_key(api, A))[1], S: (await new_key(api, S))[1], R: (await new_key(api, R))[1]}
    callers: dict[str, dict[str, str]] = {
        "none": {}, "wrong key": api.stack.auth("hk_not_a_key"), "env admin": api.h,
        **{scope: api.stack.auth(key) for scope, key in keys.items()},
        "user": api.stack.auth(await new_token(api, owner)),
        "other user": api.stack.auth(await new_token(api, stranger)),
    }
    # Status webhooks made here post only `discarded`, to a path of this test's, and are deleted at the end.
    hook_url = f"{api.stack.http_receiver.base}/hook/{uid('policy')}"
    r = await api.http.post("/v1/webhooks", json={"url": hook_url, "events": ["discarded"]}, headers=api.h)
    assert r.status_code == 201, r.text
    params = {"name": template, "user_id": owner, "notification_id": sent["id"], "broadcast_id": broadcast,
              "key_id": spare_key, "operation": "decode", "webhook_id": r.json()["id"], "event_id": 1,
              "schedule_id": schedule_id, "token_id": "tok_nosuchtoken", "locale": "fr",
              "channel": "email", "address": f"{uid('policy')}@example.com"}
    bodies: dict[tuple[str, str], Callable[[], Any]] = {
        ("POST", "/v1/templates"): lambda: {"name": uid("tpl"), "body": "Hi {{ name }}"},
        ("PUT", "/v1/templates/{name}"): lambda: {"body": "Hello {{ name }}"},
        ("POST", "/v1/templates/{name}/preview"): lambda: {"data": {"name": "Ada"}},
        ("PUT", "/v1/templates/{name}/locales/{locale}"): lambda: {"body": "Bonjour {{ name }}"},
        ("POST", "/v1/users"): lambda: {"name": "Bo"},
        ("PATCH", "/v1/users/{user_id}"): lambda: {"locale": "en"},
        ("POST", "/v1/topics/{name}/subscribers"): lambda: {"user_ids": [owner]},
        ("DELETE", "/v1/topics/{name}/subscribers"): lambda: {"user_ids": [owner]},
        ("POST", "/v1/notifications"): lambda: {"template": template, "user_id": owner, "channels": ["in_app"],
                                                "data": {"name": "Ada"}},
        ("POST", "/v1/notifications/bulk"): lambda: {"notifications": [
            {"template": template, "user_id": owner, "channels": ["in_app"], "data": {"name": "Ada"}}]},
        ("POST", "/v1/broadcasts"): lambda: {"template": template, "data": {"name": "Ada"}, "channels": ["in_app"],
                                             "audience": {"user_ids": [owner]}},
        ("POST", "/v1/schedules"): schedule,
        ("POST", "/v1/dlq/retry"): lambda: {"ids": ["no-such-notification"]},
        ("POST", "/v1/keys"): lambda: {"name": uid("key"), "scopes": ["read"]},
        ("POST", "/codec/{operation}"): lambda: {"payloads": []},
        ("POST", "/v1/webhooks"): lambda: {"url": hook_url, "events": ["discarded"]},
        ("POST", "/v1/suppressions"): lambda: {"channel": "push", "address": uid("policy")},
    }
    wrong: list[str] = []
    # Destructive operations last, so that earlier rows still find what they address.
    order = sorted(POLICY, key=lambda op: op[0] == "DELETE")
    for method, path in order:
        allowed = POLICY[(method, path)]
        url = path.format(**params)
        for caller, headers in callers.items():
            body = bodies.get((method, path))
            if path.endswith("/stream"):  # an answered stream never ends: the status line is what counts
                async with api.http.stream(method, url, headers=headers) as r:
                    await r.aread() if r.status_code != 200 else None
            else:
                r = await api.http.request(method, url, headers=headers, json=body() if body else None)
            role = {"env admin": A, "user": U}.get(caller, caller)
            if caller in ("none", "wrong key"):
                ok = r.status_code == 401 and r.headers.get("www-authenticate") == "Bearer"
            elif caller == "other user" and "/inbox" in path:
                ok = r.status_code == 404  # another user's inbox does not exist, as far as this token knows
            elif role in allowed:
                ok = r.status_code < 500 and r.status_code not in (401, 403)
                if caller == "user" and method == "GET":
                    ok = r.status_code == 200
            else:
                ok = r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
            if not ok:
                wrong.append(f"{method} {path} as {caller}: {r.status_code} {r.text[:120]}")
    hooks = (await api.http.get("/v1/webhooks", params={"limit": 500}, headers=api.h)).json()["items"]
    made = [h for h in hooks if h["url"] == hook_url]
    assert made, "the webhooks this test made"
    for hook in made:
        assert (await api.http.delete(f"/v1/webhooks/{hook['id']}", headers=api.h)).status_code == 204
    assert not wrong, "\n".join(wrong)


async def test_a_key_is_shown_once_stored_hashed_and_revoked_at_once(api: Api) -> None:
    key_id, key = await new_key(api, S)
    assert key_id.removeprefix("key_") in key
    row = await api.stack.pool.fetchrow("SELECT * FROM api_key WHERE id = $1", key_id)
    assert row is not None and row["key_hash"] == hash_secret(key)
    assert key not in {str(v) for v in dict(row).values()}
    listed = (await api.http.get("/v1/keys", params={"limit": 500}, headers=api.h)).json()["items"]
    mine = [k for k in listed if k["id"] == key_id]
    assert mine and "key" not in mine[0] and "key_hash" not in mine[0] and mine[0]["revoked_at"] is None

    assert (await api.http.get("/v1/notifications", headers=api.stack.auth(key))).status_code == 200
    assert (await api.http.delete(f"/v1/keys/{key_id}", headers=api.h)).status_code == 204
    r = await api.http.get("/v1/notifications", headers=api.stack.auth(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert (await api.http.delete(f"/v1/keys/{key_id}", headers=api.h)).status_code == 204  # again: no-op
    assert (await api.http.delete("/v1/keys/key_nosuchkey", headers=api.h)).status_code == 404


async def test_a_send_key_sends_and_follows_but_changes_nothing_else(api: Api) -> None:
    template, user = await api.template(), await api.user()
    _, key = await new_key(api, S)
    sent = await api.send(template, user_id=user, channels=["in_app"], headers=api.stack.auth(key))
    r = await api.http.get(f"/v1/notifications/{sent['id']}", headers=api.stack.auth(key))
    assert r.status_code == 200 and r.json()["id"] == sent["id"]
    r = await api.http.post(f"/v1/notifications/{sent['id']}/cancel", headers=api.stack.auth(key))
    assert r.status_code == 403 and "'send'" not in r.json()["error"]["message"]
    assert "'admin'" in r.json()["error"]["message"]


@pytest.mark.parametrize("body, field", [
    ({"name": "", "scopes": ["read"]}, "name"),
    ({"name": "k", "scopes": []}, "scopes"),
    ({"name": "k", "scopes": ["root"]}, "scopes.0"),
    ({"name": "k", "scopes": ["read", "read"]}, "scopes"),
    ({"name": "k", "scopes": ["read"], "rate_per_s": 0}, "rate_per_s"),
])
async def test_bad_key_requests_name_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    r = await api.http.post("/v1/keys", json=body, headers=api.h)
    assert r.status_code == 422, r.text
    assert field in {d["field"] for d in r.json()["error"]["details"]}


async def test_a_key_rate_holds_across_two_api_processes(api: Api) -> None:
    """Each process alone would let the whole burst through; together they must share one budget."""
    rate, burst = 2.0, 6
    _, key = await new_key(api, R, rate_per_s=rate, burst=burst)
    settings = api.stack.settings
    env = {"DATABASE_URL": str(settings.database_url), "TEMPORAL_ADDRESS": str(settings.temporal_address),
           "HERALD_ADMIN_KEY": api.stack.admin_key}
    async with api_process(env, free_port()) as one, api_process(env, free_port()) as two, \
            httpx.AsyncClient(headers=api.stack.auth(key), timeout=30) as http:
        started = time.monotonic()
        answers = await asyncio.gather(*(http.get(f"{(one, two)[i % 2]}/v1/templates") for i in range(30)))
        elapsed = time.monotonic() - started
        passed = [r for r in answers if r.status_code == 200]
        limited = [r for r in answers if r.status_code == 429]
        assert len(passed) + len(limited) == len(answers), {r.status_code for r in answers}
        # The burst, plus what the rate refilled while the requests ran (one more for rounding at the edges).
        assert burst <= len(passed) <= burst + int(rate * elapsed) + 1, (len(passed), elapsed)
        for r in limited:
            assert r.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(r.headers["retry-after"]) <= 2
        await asyncio.sleep(int(limited[0].headers["retry-after"]))
        assert (await http.get(f"{two}/v1/templates")).status_code == 200
