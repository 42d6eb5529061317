"""Status webhooks over HTTP: a real receiver registered through the API gets every status change it asked for,
once, in order per notification, signed; retries, dead letters and their retry, deletion, and a relay that
relays again after a crash."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.ids import client_key, notification_id_for_key
from tests.api.conftest import Api, eventually, uid
from tests.conftest import SECRET
from tests.receivers import Call, HttpReceiver, Reply

ALL = ["accepted", "scheduled", "delivered", "dead_lettered", "digested", "read", "skipped", "canceled", "discarded",
       "bounced", "complained", "undelivered"]


def signature_ok(call: Call) -> bool:
    """Standard Webhooks, checked here by hand (not with Herald's signing code): HMAC-SHA256 over
    "<id>.<timestamp>.<body>" with the base64-decoded secret."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{call.headers['webhook-id']}.{call.headers['webhook-timestamp']}.".encode() + call.raw
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, sig) for sig in call.headers["webhook-signature"].split())


class Hook:
    """One subscription registered through the API, and what its receiver path got."""

    def __init__(self, api: Api, receiver: HttpReceiver, events: list[str] | None):
        self.api = api
        self.receiver = receiver
        self.path = f"/hook/{uid('status')}"
        self.events = events
        self.id = ""

    async def register(self) -> dict[str, Any]:
        body: dict[str, Any] = {"url": f"{self.receiver.base}{self.path}"}
        if self.events is not None:
            body["events"] = self.events
        r = await self.api.http.post("/v1/webhooks", json=body, headers=self.api.h)
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        self.id = created["id"]
        return created

    async def send_scripted(self, replies: list[Reply]) -> str:
        """Sends a notification whose events this hook's receiver answers with `replies` first. Scripted under
        the notification's own id (known ahead from its idempotency key): the subscription also gets the events
        of other tests' notifications, which must not take these replies."""
        key = uid("scripted")
        nid = notification_id_for_key(client_key("env", key))  # sent with the admin key
        self.receiver.script[f"{self.path}#{nid}"] = list(replies)
        tpl = await self.api.template()
        sent = await self.api.send(tpl, to={"sim": "ok"}, channels=["sim"], headers={"Idempotency-Key": key})
        assert sent["id"] == nid
        return nid

    async def delete(self) -> int:
        return (await self.api.http.delete(f"/v1/webhooks/{self.id}", headers=self.api.h)).status_code

    def calls(self, notification_id: str, *, answered: int | None = None) -> list[Call]:
        return [c for c in self.receiver.calls if c.path == self.path
                and c.body["data"]["notification_id"] == notification_id
                and (answered is None or c.status == answered)]

    def types(self, notification_id: str) -> list[str]:
        """The event types the receiver accepted (answered 2xx), in arrival order."""
        return [c.body["type"].removeprefix("notification.") for c in self.calls(notification_id, answered=200)]

    async def until_types(self, notification_id: str, expected: list[str], timeout_s: float = 20) -> list[str]:
        async def check() -> list[str] | None:
            got = self.types(notification_id)
            return got if len(got) >= len(expected) else None
        got: list[str] = await eventually(check, timeout_s, f"events {expected}")
        return got


@pytest.fixture
async def hook_factory(api: Api) -> AsyncIterator[Any]:
    made: list[Hook] = []

    async def make(events: list[str] | None = None) -> Hook:
        hook = Hook(api, api.stack.http_receiver, events)
        await hook.register()
        made.append(hook)
        return hook

    yield make
    for hook in made:  # a subscription left behind would post every later test's events
        await hook.delete()


async def test_a_receiver_sees_every_event_once_in_order_signed(api: Api, hook_factory: Any) -> None:
    hook: Hook = await hook_factory()
    user = await api.user()
    tpl = await api.template()
    key = uid("idem")
    sent = await api.send(tpl, user_id=user, channels=["in_app", "sim"], to={"sim": "flaky:1"},
                          data={"name": "Ada", "secret_code": "4242"}, headers={"Idempotency-Key": key})
    nid = sent["id"]
    await api.until_status(nid, "delivered")
    r = await api.http.post(f"/v1/users/{user}/inbox/{nid}/read", headers=api.h)
    assert r.status_code == 204
    assert await hook.until_types(nid, ["accepted", "delivered", "read"]) == ["accepted", "delivered", "read"]
    await asyncio.sleep(1.5)  # anything extra (a duplicate) would arrive within this
    calls = hook.calls(nid)
    assert [c.body["type"] for c in calls] == ["notification.accepted", "notification.delivered", "notification.read"]
    assert all(signature_ok(c) for c in calls)
    assert all(c.verified for c in calls)  # the receiver's Standard Webhooks library agrees
    ids = [c.headers["webhook-id"] for c in calls]
    assert len(set(ids)) == 3 and all(c.headers["idempotency-key"] == c.headers["webhook-id"] for c in calls)
    delivered = calls[1].body
    assert delivered["data"]["status"] == "delivered" and delivered["data"]["user_id"] == user
    assert delivered["data"]["channels"] == ["in_app", "sim"]
    assert delivered["data"]["idempotency_key"] == key
    assert delivered["data"]["detail"]  # the timeline's words for the change
    assert {d["channel"]: d["status"] for d in delivered["data"]["deliveries"]} == {"in_app": "delivered",
                                                                                   "sim": "delivered"}
    assert delivered["timestamp"].endswith("Z")
    # No template data, no addresses: the body names the notification, it does not carry it.
    raw = b"".join(c.raw for c in calls)
    assert b"4242" not in raw and b"flaky" not in raw


async def test_events_are_filtered_by_the_subscription(api: Api, hook_factory: Any) -> None:
    only_delivered: Hook = await hook_factory(["delivered"])
    dead: Hook = await hook_factory(["dead_lettered", "discarded"])
    tpl = await api.template()
    ok = (await api.send(tpl, to={"sim": "ok"}, channels=["sim"]))["id"]
    failing = (await api.send(tpl, to={"sim": "reject"}, channels=["sim"]))["id"]
    await api.until_status(ok, "delivered")
    await api.until_status(failing, "dead_lettered")
    r = await api.http.post(f"/v1/dlq/{failing}/discard", headers=api.h)
    assert r.status_code == 202
    await api.until_status(failing, "discarded")
    assert await only_delivered.until_types(ok, ["delivered"]) == ["delivered"]
    assert await dead.until_types(failing, ["dead_lettered", "discarded"]) == ["dead_lettered", "discarded"]
    await asyncio.sleep(1.5)
    assert only_delivered.types(ok) == ["delivered"] and only_delivered.types(failing) == []
    assert dead.types(ok) == []
    parked = dead.calls(failing)[0].body["data"]
    assert parked["status"] == "dead_lettered" and "reject" in (parked["error"] or "")


async def test_scheduled_canceled_skipped_and_digested_are_events_too(api: Api, hook_factory: Any) -> None:
    hook: Hook = await hook_factory(["scheduled", "canceled", "skipped", "digested"])
    tpl = await api.template()
    later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    scheduled = (await api.send(tpl, to={"sim": "ok"}, channels=["sim"], send_at=later))["id"]
    await api.until_status(scheduled, "scheduled")
    r = await api.http.post(f"/v1/notifications/{scheduled}/cancel", headers=api.h)
    assert r.status_code == 202, r.text
    opted_out = await api.user(preferences={"channels": {"in_app": False}})
    skipped = (await api.send(tpl, user_id=opted_out, channels=["in_app"]))["id"]
    user = await api.user()
    absorbed = (await api.send(tpl, user_id=user, channels=["in_app"], digest={"key": "k", "window": "1s"}))["id"]
    assert await hook.until_types(scheduled, ["scheduled", "canceled"]) == ["scheduled", "canceled"]
    assert await hook.until_types(skipped, ["skipped"]) == ["skipped"]
    assert await hook.until_types(absorbed, ["digested"]) == ["digested"]
    digested = hook.calls(absorbed)[0].body["data"]
    assert digested["digest_id"] and digested["detail"] == f"delivered in digest {digested['digest_id']}"
    assert "in_app" in (hook.calls(skipped)[0].body["data"]["detail"] or "")
    assert hook.calls(scheduled)[0].body["data"]["send_at"].startswith(later[:10])


async def test_a_failing_receiver_gets_each_event_once_after_retries(api: Api, hook_factory: Any) -> None:
    hook: Hook = await hook_factory(["accepted", "delivered"])
    nid = await hook.send_scripted([Reply(500), Reply(503, headers={"Retry-After": "0"})])
    assert await hook.until_types(nid, ["accepted", "delivered"]) == ["accepted", "delivered"]
    await asyncio.sleep(1.0)
    calls = hook.calls(nid)
    # accepted: two failures and a success, all three the same message; then delivered once.
    assert [(c.body["type"], c.status) for c in calls] == [
        ("notification.accepted", 500), ("notification.accepted", 503), ("notification.accepted", 200),
        ("notification.delivered", 200)]
    assert len({c.headers["webhook-id"] for c in calls[:3]}) == 1
    assert all(signature_ok(c) for c in calls)


async def test_a_permanently_failing_receiver_dead_letters_and_retry_delivers(api: Api, hook_factory: Any) -> None:
    hook: Hook = await hook_factory(["accepted", "delivered"])
    nid = await hook.send_scripted([Reply(410)])
    await api.until_status(nid, "delivered")

    async def parked() -> list[dict[str, Any]]:
        r = await api.http.get(f"/v1/webhooks/{hook.id}/dead-letters", headers=api.h)
        assert r.status_code == 200, r.text
        return [d for d in r.json()["items"] if d["notification_id"] == nid]
    letters = await eventually(parked, what="a webhook dead letter")
    assert letters[0]["type"] == "accepted" and "410" in letters[0]["error"] and letters[0]["attempts"] == 1
    await asyncio.sleep(1.0)
    # `delivered` waits behind the parked `accepted`: order per notification holds.
    assert hook.types(nid) == []
    r = await api.http.post(f"/v1/webhooks/{hook.id}/dead-letters/retry", json={"ids": [letters[0]["event_id"]]},
                            headers=api.h)
    assert r.status_code == 202 and r.json() == {"retried": 1}
    assert await hook.until_types(nid, ["accepted", "delivered"]) == ["accepted", "delivered"]
    assert await parked() == []


async def test_discarding_a_dead_letter_lets_the_next_events_go(api: Api, hook_factory: Any) -> None:
    hook: Hook = await hook_factory(["accepted", "delivered"])
    nid = await hook.send_scripted([Reply(400)])

    async def parked() -> list[dict[str, Any]]:
        r = await api.http.get(f"/v1/webhooks/{hook.id}/dead-letters", headers=api.h)
        return [d for d in r.json()["items"] if d["notification_id"] == nid]
    letter = (await eventually(parked, what="a webhook dead letter"))[0]
    r = await api.http.post(f"/v1/webhooks/{hook.id}/dead-letters/{letter['event_id']}/discard", headers=api.h)
    assert r.status_code == 202, r.text
    assert await hook.until_types(nid, ["delivered"]) == ["delivered"]
    r = await api.http.post(f"/v1/webhooks/{hook.id}/dead-letters/{letter['event_id']}/discard", headers=api.h)
    assert r.status_code == 404


async def test_deleting_a_subscription_stops_its_events(api: Api, hook_factory: Any) -> None:
    hook: Hook = await hook_factory(["accepted", "delivered"])
    tpl = await api.template()
    before = (await api.send(tpl, to={"sim": "ok"}, channels=["sim"]))["id"]
    assert await hook.until_types(before, ["accepted", "delivered"]) == ["accepted", "delivered"]
    assert await hook.delete() == 204
    assert (await api.http.get(f"/v1/webhooks/{hook.id}", headers=api.h)).status_code == 404
    listed = (await api.http.get("/v1/webhooks?limit=500", headers=api.h)).json()["items"]
    assert hook.id not in [w["id"] for w in listed]
    after = (await api.send(tpl, to={"sim": "ok"}, channels=["sim"]))["id"]
    await api.until_status(after, "delivered")
    await asyncio.sleep(1.5)
    assert hook.calls(after) == []
    assert await hook.delete() == 404


async def test_deleting_a_subscription_discards_its_parked_events(api: Api, hook_factory: Any) -> None:
    hook: Hook = await hook_factory(["accepted", "delivered"])
    nid = await hook.send_scripted([Reply(410)])
    await api.until_status(nid, "delivered")
    pool = api.stack.pool

    async def parked() -> int | None:
        found: int | None = await pool.fetchval("SELECT event_id FROM webhook_dead_letter WHERE subscription_id = $1 "
                                                "AND resolved_at IS NULL", hook.id)
        return found
    event_id = await eventually(parked, what="a webhook dead letter")
    assert await hook.delete() == 204

    async def ended() -> dict[str, str] | None:
        rows = await pool.fetch("SELECT type, outcome FROM status_event WHERE notification_id = $1 "
                                "AND subscription_id = $2", nid, hook.id)
        outcomes = {r["type"]: r["outcome"] for r in rows}
        return outcomes if None not in outcomes.values() and len(outcomes) == 2 else None
    assert await eventually(ended, what="both events to end") == {"accepted": "discarded", "delivered": "canceled"}
    resolution = await pool.fetchval("SELECT resolution FROM webhook_dead_letter WHERE event_id = $1", event_id)
    assert resolution == "discarded"
    assert hook.types(nid) == []  # the 410 was the only call
    assert len(hook.calls(nid)) == 1
    assert await hook.delete() == 404


async def test_a_relay_that_relays_again_sends_nothing_twice(api: Api, hook_factory: Any) -> None:
    """A relay killed between its signals and marking the rows relayed signals them all again on restart."""
    hook: Hook = await hook_factory(["accepted", "delivered"])
    tpl = await api.template()
    nid = (await api.send(tpl, to={"sim": "ok"}, channels=["sim"]))["id"]
    assert await hook.until_types(nid, ["accepted", "delivered"]) == ["accepted", "delivered"]
    pool = api.stack.pool
    marked = await pool.fetch("UPDATE status_event SET relayed_at = NULL WHERE notification_id = $1 "
                              "AND subscription_id = $2 RETURNING id", nid, hook.id)
    assert len(marked) == 2
    await pool.execute("SELECT pg_notify('herald_status_event', '')")

    async def relayed_again() -> bool:
        left: int = await pool.fetchval("SELECT count(*) FROM status_event WHERE notification_id = $1 "
                                   "AND relayed_at IS NULL", nid)
        return left == 0
    await eventually(relayed_again, what="the rows to be relayed again")
    await asyncio.sleep(1.5)
    assert hook.types(nid) == ["accepted", "delivered"]
    assert len(hook.calls(nid)) == 2


async def test_registration_is_validated(api: Api, hook_factory: Any) -> None:
    async def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        r = await api.http.post("/v1/webhooks", json=body, headers=api.h)
        return r.status_code, r.json()

    status, body = await post({"url": f"{api.stack.http_receiver.base}/hook/x", "events": ["delivered", "sent"]})
    assert status == 422 and body["error"]["details"][0]["field"] == "events.1"
    status, body = await post({"url": "http://10.1.2.3/hook"})
    assert status == 422 and body["error"]["details"][0]["field"] == "url"
    assert "private" in body["error"]["message"]
    status, body = await post({"url": "http://127.0.0.2:9/hook"})  # loopback, but not the allowed 127.0.0.1
    assert status == 422 and body["error"]["details"][0]["field"] == "url"
    status, body = await post({"url": "ftp://example.com/x"})
    assert status == 422 and body["error"]["details"][0]["field"] == "url"
    status, body = await post({"url": "http://no-such-host.invalid/x"})
    assert status == 422 and "resolve" in body["error"]["message"]
    status, body = await post({"events": ["delivered"]})
    assert status == 422 and body["error"]["details"][0]["field"] == "url"
    hook: Hook = await hook_factory()
    r = await api.http.get(f"/v1/webhooks/{hook.id}", headers=api.h)
    assert r.status_code == 200 and r.json()["events"] == ALL
    assert (await api.http.get("/v1/webhooks/wh_nope", headers=api.h)).status_code == 404
    assert (await api.http.get("/v1/webhooks/wh_nope/dead-letters", headers=api.h)).status_code == 404
