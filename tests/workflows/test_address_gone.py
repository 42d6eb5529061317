"""A push token its vendor calls gone (FCM `UNREGISTERED`, APNs `Unregistered`) ends its delivery `bounced`, out
of the dead-letter queue, and is suppressed, so that the next send to it is skipped before any vendor call; a
notification that went out nowhere else ends `undelivered`.

The time-skipping server and a real worker whose push channel is an FCM or APNs integration pointed at the strict
doubles of tests/vendors/ (APNs over HTTP/2 with TLS), in a database of this module's own: its push integrations
would change every other test's push channel.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from temporalio.testing import WorkflowEnvironment

from core.secrets import new_webhook_secret
from core.settings import Settings
from providers.registry import Providers
from services import integrations
from store import suppressions, webhooks
from tests.api.conftest import eventually
from tests.conftest import database_of_its_own
from tests.providers import test_apns, test_fcm
from tests.vendors.apns import Apns, refusal
from tests.vendors.fcm import Fcm, error
from tests.workflows.conftest import Handle, Harness, running_harness, watch_built_providers
from tests.workflows.test_long_lives import patches_of
from workflows.notification.versions import ADDRESS_GONE_PATCH

UNREGISTERED = error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
NOT_A_TOKEN = error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                    "INVALID_ARGUMENT")


@pytest.fixture(scope="module")
async def own_pool(pg_server: Any) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    async with database_of_its_own(pg_server, "herald_gone") as own:
        yield own


@pytest.fixture(scope="module")
async def fcm_double() -> AsyncIterator[Fcm]:
    public = test_fcm.KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    server = Fcm(test_fcm.PROJECT, test_fcm.EMAIL, public)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def apns_double(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Apns]:
    public = test_apns.KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    server = Apns(team_id=test_apns.TEAM, key_id=test_apns.KEY_ID, public_key_pem=public,
                  bundle_id=test_apns.BUNDLE, ca=test_apns.CA, directory=tmp_path_factory.mktemp("apns"))
    await server.start()
    yield server
    await server.stop()


class Push:
    """The harness, the worker's live chains and the two doubles, with the push integrations a test adds."""

    def __init__(self, harness: Harness, providers: Providers, fcm: Fcm, apns: Apns):
        self.harness = harness
        self.providers = providers
        self.fcm = fcm
        self.apns = apns
        self.pool = harness.pool

    async def use(self, *names: str) -> None:
        """The push channel's integrations, in this priority order: `fcm-main` and / or `apns-main`."""
        for priority, name in enumerate(names, start=1):
            if name == "fcm-main":
                provider, config = "fcm", {"project_id": test_fcm.PROJECT, "base_url": self.fcm.base,
                                           "service_account_json": test_fcm.service_account(self.fcm)}
            else:
                provider, config = "apns", {
                    "team_id": test_apns.TEAM, "key_id": test_apns.KEY_ID, "private_key": test_apns.pem(test_apns.KEY),
                    "bundle_id": test_apns.BUNDLE, "environment": "production", "base_url": self.apns.base,
                    "ca_certificate": test_apns.CA.cert_pem.bytes().decode()}
            await integrations.create(self.pool, self.harness.settings, integration_id=name, channel="push",
                                      provider=provider, config=config, priority=priority, rate_per_s=None,
                                      active=True)

        async def held() -> bool:
            return [p.name for p in self.providers.chains.get("push", [])] == list(names)
        await eventually(held, what=f"the worker's push chain to be {names}")

    async def send(self, token: str, channels: tuple[str, ...] = ("push",)) -> tuple[str, Handle]:
        """A notification to a user whose device token is `token` (and whose `sim` address delivers)."""
        return await self.harness.start(channels=list(channels), to={"sim": "ok"} if "sim" in channels else None,
                                        user={"push_token": token})

    async def suppression(self, token: str) -> tuple[str, str] | None:
        found = await suppressions.get(self.pool, "push", token)
        return (found.reason, found.source) if found is not None else None

    async def dead_letters(self, notification_id: str) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM dead_letter WHERE notification_id = $1",
                                            notification_id))

    async def status_events(self, notification_id: str) -> list[tuple[str, dict[str, Any]]]:
        rows = await self.pool.fetch("SELECT type, payload FROM status_event WHERE notification_id = $1 ORDER BY id",
                                     notification_id)
        return [(r["type"], json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"])
                for r in rows]


@pytest.fixture
async def push(ts_env: WorkflowEnvironment, own_pool: tuple[str, asyncpg.Pool], fcm_double: Fcm, apns_double: Apns,
               request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
               tmp_path: Path) -> AsyncIterator[Push]:
    url, pool = own_pool
    # "queued": push goes through its channel's task queue (a rate limit), Temporal running the retries; by
    # default it is delivered by local activities, the workflow running them.
    queued = getattr(request, "param", "local") == "queued"
    settings = Settings(DATABASE_URL=url, HERALD_TASK_QUEUE=f"tq-{uuid.uuid4().hex[:8]}",
                        HERALD_WEBHOOK_SECRET=new_webhook_secret(), HERALD_WORKFLOW_SANDBOX=True,
                        HERALD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1", HERALD_DATA_DIR=tmp_path,
                        HERALD_RATE_LIMITS="push=100" if queued else "")
    built = watch_built_providers(monkeypatch)
    try:
        async with running_harness(ts_env, pool, settings, request) as harness:
            yield Push(harness, built[0], fcm_double, apns_double)
    finally:
        for item in await integrations.list_all(pool, settings):
            if not item.read_only:
                await integrations.delete(pool, settings, item.id)
        await pool.execute("UPDATE webhook_subscription SET deleted_at = now() "
                           "WHERE url = 'https://hooks.example.com/herald' AND deleted_at IS NULL")


def fcm_token() -> str:
    return "fcm-" + secrets.token_urlsafe(32)


@pytest.mark.parametrize("push", ["local", "queued"], indirect=True)
async def test_a_token_fcm_calls_unregistered_bounces_is_suppressed_and_is_never_sent_again(
        push: Push) -> None:
    await push.use("fcm-main")
    await webhooks.create(push.pool, "https://hooks.example.com/herald", ["bounced", "undelivered", "dead_lettered"],
                          None)
    token = fcm_token()
    push.fcm.script[token].append(UNREGISTERED)
    nid, handle = await push.send(token)

    state = await handle.result()
    assert state.status == "undelivered"
    row = await push.harness.row(nid)
    [delivery] = row["deliveries"]
    assert (row["status"], delivery["status"], delivery["attempts"]) == ("undelivered", "bounced", 1)
    assert delivery["last_error"] == "fcm-main: HTTP 404 UNREGISTERED: Requested entity was not found."
    # The bounce is timed by PostgreSQL, the notification's end by the workflow's clock, which the time-skipping
    # server moves ahead: compared without their order.
    events = {(e["event"], e["detail"]) for e in row["timeline"] if e["event"] in ("bounced", "undelivered")}
    assert events == {
        ("bounced", f"push bounced (fcm-main): {delivery['last_error']}; the address is suppressed (unregistered)"),
        ("undelivered", f"push bounced: {delivery['last_error']}")}
    assert await push.suppression(token) == ("unregistered", "fcm-main")
    assert await push.dead_letters(nid) == 0
    hooks = await push.status_events(nid)
    assert [kind for kind, _ in hooks] == ["bounced", "undelivered"]
    assert hooks[0][1]["channel"] == "push" and "UNREGISTERED" in hooks[0][1]["detail"]
    assert hooks[1][1]["status"] == "undelivered" and "UNREGISTERED" in hooks[1][1]["detail"]
    assert ADDRESS_GONE_PATCH in patches_of(await handle.fetch_history())
    assert len(push.fcm.to(token, "token")) == 1

    # The next send to that token is skipped before FCM is called.
    again, second = await push.send(token)
    assert (await second.result()).status == "skipped"
    assert (await push.harness.row(again))["deliveries"][0]["last_error"] == (
        "suppressed: the push address is on the suppression list (unregistered)")
    assert len(push.fcm.to(token, "token")) == 1


async def test_only_the_dead_token_is_suppressed_and_other_channels_still_go(push: Push) -> None:
    """Suppressions are kept per token, never per user: a user's new token, or anyone else's, still receives."""
    await push.use("fcm-main")
    dead, alive = fcm_token(), fcm_token()
    push.fcm.script[dead].append(UNREGISTERED)
    nid, handle = await push.send(dead, channels=("push", "sim"))
    assert (await handle.result()).status == "delivered"
    row = await push.harness.row(nid)
    assert {d["channel"]: d["status"] for d in row["deliveries"]} == {"push": "bounced", "sim": "delivered"}
    assert row["timeline"][-1]["detail"].endswith("bounced, the address gone: push")

    _, other = await push.send(alive)
    assert (await other.result()).status == "delivered"
    assert len(push.fcm.to(alive, "token")) == 1
    assert await push.suppression(alive) is None
    assert await push.suppression(dead) == ("unregistered", "fcm-main")


@pytest.mark.parametrize("reply, reason", [(refusal(410, "Unregistered"), "unregistered"),
                                           (refusal(410, "ExpiredToken"), "expired_token"),
                                           (refusal(400, "BadDeviceToken"), "bad_device_token")])
async def test_a_token_apns_calls_gone_bounces_and_is_suppressed(push: Push, reply: Any, reason: str) -> None:
    await push.use("apns-main")
    token = secrets.token_hex(32)
    push.apns.script[token].append(reply)
    nid, handle = await push.send(token)
    assert (await handle.result()).status == "undelivered"
    row = await push.harness.row(nid)
    assert reply.body["reason"] in row["deliveries"][0]["last_error"]
    assert await push.suppression(token) == (reason, "apns-main")
    assert await push.dead_letters(nid) == 0

    _, second = await push.send(token)
    assert (await second.result()).status == "skipped"
    assert len([r for r in push.apns.received if r.fields.get("device") == token]) == 1


async def test_other_permanent_errors_still_dead_letter_and_suppress_nothing(push: Push) -> None:
    await push.use("apns-main")
    token = secrets.token_hex(32)
    push.apns.script[token].append(refusal(400, "BadTopic"))
    nid, handle = await push.send(token)
    state = await push.harness.wait_for(handle, "dead_lettered")
    assert "BadTopic" in (state.deliveries[0].last_error or "")
    assert await push.dead_letters(nid) == 1
    assert await push.suppression(token) is None
    assert ADDRESS_GONE_PATCH not in patches_of(await handle.fetch_history())


async def test_a_token_that_is_only_not_fcms_fails_over_to_apns_unsuppressed(push: Push) -> None:
    """FCM calls an APNs token invalid; with APNs next in the chain, that says nothing about the token."""
    await push.use("fcm-main", "apns-main")
    token = secrets.token_hex(32)
    push.fcm.script[token].append(NOT_A_TOKEN)
    nid, handle = await push.send(token)
    assert (await handle.result()).status == "delivered"
    row = await push.harness.row(nid)
    assert row["deliveries"][0]["provider"] == "apns-main"
    assert await push.suppression(token) is None


async def test_a_token_the_last_provider_calls_invalid_is_suppressed(push: Push) -> None:
    await push.use("fcm-main")
    token = fcm_token()
    push.fcm.script[token].append(NOT_A_TOKEN)
    _, handle = await push.send(token)
    assert (await handle.result()).status == "undelivered"
    assert await push.suppression(token) == ("invalid_token", "fcm-main")
