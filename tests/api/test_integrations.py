"""Integrations as data, on a stack of their own (its own database: an integration changes what every email of
its stack goes through): CRUD with secrets masked and sealed, sends through a SendGrid integration to the
strict SendGrid double, changes picked up without a restart, failover between integrations, and a rate that
holds across two workers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import Api, eventually
from tests.conftest import Stack, database_of_its_own, herald_stack
from tests.processes import ROOT
from tests.receivers import HttpReceiver, SmtpSink
from tests.vendors.loopback import Reply
from tests.vendors.sendgrid import API_KEY, VERIFIED_SENDER, SendGridDouble
from tests.vendors.slack import Slack
from worker import herald_worker


@pytest.fixture(scope="module")
async def doubles() -> AsyncIterator[tuple[SendGridDouble, SendGridDouble]]:
    first, second = SendGridDouble(), SendGridDouble()
    await first.start()
    await second.start()
    yield first, second
    await first.stop()
    await second.stop()


@pytest.fixture(scope="module")
async def own(pg_server: Any, dev_env: WorkflowEnvironment, smtp_sink: SmtpSink, smtp_fallback_sink: SmtpSink,
              http_receiver: HttpReceiver) -> AsyncIterator[Stack]:
    async with database_of_its_own(pg_server, "herald_integrations") as (url, pool):
        # Room for a send to wait for its rate-limited slot within one attempt.
        async with herald_stack(dev_env, url, pool, smtp_sink, smtp_fallback_sink, http_receiver,
                                HERALD_DELIVERY_TIMEOUT_S=10.0) as running:
            yield running


@pytest.fixture
async def api(own: Stack) -> AsyncIterator[Api]:
    yield Api(own)
    # Each test leaves no integration behind: email goes back to the environment's SMTP.
    for item in (await own.http.get("/v1/integrations", headers=own.auth())).json():
        if not item["read_only"]:
            await own.http.delete(f"/v1/integrations/{item['id']}", headers=own.auth())


def sendgrid(integration_id: str, double: SendGridDouble, **fields: Any) -> dict[str, Any]:
    return {"id": integration_id, "channel": "email", "provider": "sendgrid",
            "config": {"api_key": API_KEY, "from": f"Alerts <{VERIFIED_SENDER}>", "base_url": double.base},
            **fields}


async def add(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.http.post("/v1/integrations", json=body, headers=api.h)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def patch(api: Api, integration_id: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.http.patch(f"/v1/integrations/{integration_id}", json=body, headers=api.h)
    assert r.status_code == 200, r.text
    changed: dict[str, Any] = r.json()
    return changed


async def email(api: Api, template: str, address: str) -> dict[str, Any]:
    sent = await api.send(template, channels=["email"], to={"email": address}, data={"name": "Ada"})
    return await api.until_status(sent["id"], "delivered")


def to(double: SendGridDouble, address: str) -> list[dict[str, Any]]:
    return [a for a in double.accepted if a["body"]["personalizations"][0]["to"][0]["email"] == address]


def address() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.com"


async def test_crud_masks_secrets_and_names_bad_config_fields(api: Api, own: Stack,
                                                              doubles: tuple[SendGridDouble, SendGridDouble]) -> None:
    double = doubles[0]
    created = await add(api, sendgrid("sg-main", double, priority=2, rate_per_s=50))
    assert created["config"]["api_key"] == "****" + API_KEY[-4:]
    assert created["config"]["from"] == f"Alerts <{VERIFIED_SENDER}>"
    assert (created["priority"], created["rate_per_s"], created["active"], created["read_only"]) == (2, 50, True,
                                                                                                    False)
    # At rest: the key is nowhere in the clear.
    row = await own.pool.fetchrow("SELECT config::text AS config, sealed FROM integration WHERE id = 'sg-main'")
    assert row is not None
    assert API_KEY not in row["config"] and API_KEY.encode() not in row["sealed"]

    again = await api.http.post("/v1/integrations", json=sendgrid("sg-main", double), headers=api.h)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    missing = sendgrid("sg-bad", double)
    del missing["config"]["api_key"]
    r = await api.http.post("/v1/integrations", json=missing, headers=api.h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "config.api_key", r.text
    bad_secret = "SG.leaked value with blanks"
    wrong = sendgrid("sg-bad", double)
    wrong["config"].update({"api_key": bad_secret, "from": "not an address"})
    r = await api.http.post("/v1/integrations", json=wrong, headers=api.h)
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"config.api_key", "config.from"}
    assert "leaked" not in r.text
    r = await api.http.post("/v1/integrations", json={**sendgrid("sg-bad", double), "channel": "sms"},
                            headers=api.h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "channel"
    assert (await api.http.get("/v1/integrations/sg-bad", headers=api.h)).status_code == 404

    # A PATCH that leaves the secret out keeps it; one that sends it back masked keeps it too.
    changed = await patch(api, "sg-main", {"config": {"from": VERIFIED_SENDER}, "rate_per_s": None})
    assert changed["config"]["api_key"] == "****" + API_KEY[-4:] and changed["config"]["from"] == VERIFIED_SENDER
    assert changed["rate_per_s"] is None and changed["priority"] == 2
    await patch(api, "sg-main", {"config": {"api_key": changed["config"]["api_key"]}})
    result = (await api.http.post("/v1/integrations/sg-main/test", json={"to": address()}, headers=api.h)).json()
    assert result["ok"] is True and result["provider_message_id"], result

    listed = {i["id"]: i for i in (await api.http.get("/v1/integrations", headers=api.h)).json()}
    assert listed["sg-main"]["config"]["api_key"].startswith("****")
    smtp = listed["env-smtp"]
    assert smtp["read_only"] and smtp["provider"] == "smtp" and smtp["config"]["port"] == own.smtp.port
    assert smtp["active"] is False  # email goes through sg-main while it is active
    for method in ("PATCH", "DELETE"):
        r = await api.http.request(method, "/v1/integrations/env-smtp", json={"priority": 3} if method == "PATCH"
                                   else None, headers=api.h)
        assert r.status_code == 409 and r.json()["error"]["code"] == "read_only_integration", r.text

    assert (await api.http.delete("/v1/integrations/sg-main", headers=api.h)).status_code == 204
    assert (await api.http.get("/v1/integrations/sg-main", headers=api.h)).status_code == 404
    assert (await api.http.get("/v1/integrations/env-smtp", headers=api.h)).json()["active"] is True


async def test_a_test_send_reports_the_vendors_refusal(api: Api,
                                                      doubles: tuple[SendGridDouble, SendGridDouble]) -> None:
    await add(api, sendgrid("sg-wrong-key", doubles[0], active=False,
                            config={"api_key": "SG.not-the-key", "from": VERIFIED_SENDER, "base_url": doubles[0].base}))
    result = (await api.http.post("/v1/integrations/sg-wrong-key/test", json={"to": address()},
                                  headers=api.h)).json()
    assert result["ok"] is False and "401" in result["error"] and "SG.not-the-key" not in result["error"]


async def test_an_email_goes_through_the_sendgrid_integration(api: Api, own: Stack,
                                                              doubles: tuple[SendGridDouble, SendGridDouble]) -> None:
    await add(api, sendgrid("sg-live", doubles[0]))
    template, rcpt = await api.template(), address()
    done = await email(api, template, rcpt)
    [accepted] = to(doubles[0], rcpt)
    assert accepted["body"]["subject"] == "Hi Ada"
    assert done["deliveries"][0]["provider"] == "sg-live"
    assert done["deliveries"][0]["provider_message_id"] == accepted["message_id"]
    attempts = await own.pool.fetch("SELECT provider, outcome FROM delivery_attempt WHERE notification_id = $1",
                                    done["id"])
    assert [(a["provider"], a["outcome"]) for a in attempts] == [("sg-live", "delivered")]
    assert own.smtp.tries[rcpt] == 0


async def test_changes_take_effect_on_the_next_send_without_a_restart(
        api: Api, doubles: tuple[SendGridDouble, SendGridDouble]) -> None:
    first, second = doubles
    await add(api, sendgrid("sg-a", first, priority=1))
    await add(api, sendgrid("sg-b", second, priority=2))
    template = await api.template()

    async def lands_on(expected: SendGridDouble) -> None:
        rcpt = address()
        await email(api, template, rcpt)
        assert to(expected, rcpt) and not to(first if expected is second else second, rcpt)

    await lands_on(first)
    await patch(api, "sg-a", {"active": False})
    await lands_on(second)
    await patch(api, "sg-a", {"active": True, "priority": 3})
    await lands_on(second)
    await patch(api, "sg-b", {"priority": 5})
    await lands_on(first)


async def test_a_failing_integration_fails_over_to_the_next(api: Api, own: Stack,
                                                            doubles: tuple[SendGridDouble, SendGridDouble]) -> None:
    first, second = doubles
    await add(api, sendgrid("sg-down", first, priority=1))
    await add(api, sendgrid("sg-up", second, priority=2))
    rcpt = address()
    first.script[rcpt] = [Reply(503, {"errors": [{"message": "down"}]})] * own.settings.max_attempts
    done = await email(api, await api.template(), rcpt)
    assert not to(first, rcpt) and to(second, rcpt)
    assert done["deliveries"][0]["provider"] == "sg-up"
    assert any(e["event"] == "failover" for e in done["timeline"])
    attempts = await own.pool.fetch("""SELECT provider, outcome FROM delivery_attempt WHERE notification_id = $1
                                       ORDER BY attempt""", done["id"])
    assert [(a["provider"], a["outcome"]) for a in attempts] == (
        [("sg-down", "failed")] * own.settings.max_attempts + [("sg-up", "delivered")])


async def test_an_integrations_rate_holds_across_two_workers(api: Api, own: Stack,
                                                             doubles: tuple[SendGridDouble, SendGridDouble]) -> None:
    rate, count = 2.0, 6
    await add(api, sendgrid("sg-paced", doubles[0], rate_per_s=rate))
    template = await api.template()
    other = await Client.connect(own.temporal_address)  # a second worker, as another process would run it
    async with herald_worker(other, own.pool, own.settings):
        rcpts = [address() for _ in range(count)]
        await asyncio.gather(*(email(api, template, r) for r in rcpts))
    times = sorted(a["at"] for r in rcpts for a in to(doubles[0], r))
    assert len(times) == count
    # Slots are 1/rate apart: six sends at 2/s start over 2.5 s, wherever they ran. Arrivals at the double
    # jitter by up to an interval under load; unlimited, all six arrive within a few tenths of a second.
    assert times[-1] - times[0] >= (count - 2) / rate, times


async def test_a_rate_limited_integration_spills_over_to_the_next(
        api: Api, own: Stack, doubles: tuple[SendGridDouble, SendGridDouble]) -> None:
    first, second = doubles
    await add(api, sendgrid("sg-slow", first, priority=1, rate_per_s=0.2))  # one send per 5 s
    await add(api, sendgrid("sg-spill", second, priority=2))
    template, rcpts = await api.template(), [address() for _ in range(3)]
    done = await asyncio.gather(*(email(api, template, r) for r in rcpts))
    assert sum(len(to(first, r)) for r in rcpts) == 1 and sum(len(to(second, r)) for r in rcpts) == 2
    assert sorted(d["deliveries"][0]["provider"] for d in done) == ["sg-slow", "sg-spill", "sg-spill"]
    assert not [e for d in done for e in d["timeline"] if e["event"] == "failover"]  # no attempt was spent


async def test_the_chat_channel_waits_for_an_integration_then_reaches_the_users_chat_address(api: Api) -> None:
    slack = Slack(hooks=set(), tokens={"xoxb-herald-test"}, channels={"C0HERALD"})
    await slack.start()
    try:
        template = await api.template()
        user = await api.user(chat_address="C0HERALD")
        refused = await api.send(template, expect=422, user_id=user, channels=["chat"])
        assert refused["error"]["code"] == "channel_unavailable"
        await add(api, {"id": "slack-bot", "channel": "chat", "provider": "slack",
                        "config": {"bot_token": "xoxb-herald-test", "base_url": slack.base}})
        sent = await api.send(template, user_id=user, channels=["chat"])
        done = await api.until_status(sent["id"], "delivered")
        assert done["deliveries"][0]["provider"] == "slack-bot"
        [posted] = slack.received
        assert posted.fields["channel"] == "C0HERALD" and posted.fields["text"] == "*Hi Ada*\nHello Ada"
    finally:
        await slack.stop()


async def test_an_http_gateway_integration_serves_sms_push_and_chat_with_each_channels_body(api: Api,
                                                                                           own: Stack) -> None:
    template = await api.template()
    key = uuid.uuid4().hex[:8]
    to = {"sms": f"+3370{int(key, 16) % 10**7:07d}", "push": f"device-{key}", "chat": f"#team-{key}"}
    for channel in to:
        await add(api, {"id": f"gw-{channel}", "channel": channel, "provider": "http_gateway",
                        "config": {"url": f"{own.http_receiver.base}/gateway/{channel}"}})
    sent = await api.send(template, to=to, channels=list(to))
    done = await api.until_status(sent["id"], "delivered")
    assert {d["channel"]: d["provider"] for d in done["deliveries"]} == {c: f"gw-{c}" for c in to}
    bodies = {c: [(call.path, call.verified, call.body) for call in own.http_receiver.for_key(to[c])] for c in to}
    nid = sent["id"]
    assert bodies == {
        "sms": [("/gateway/sms", True, {"to": to["sms"], "text": "Hello Ada", "notification_id": nid})],
        "push": [("/gateway/push", True, {"token": to["push"], "title": "Hi Ada", "body": "Hello Ada",
                                          "notification_id": nid})],
        "chat": [("/gateway/chat", True, {"to": to["chat"], "title": "Hi Ada", "text": "Hello Ada",
                                          "notification_id": nid})],
    }
    r = await api.http.post("/v1/integrations", headers=api.h, json={
        "id": "gw-mail", "channel": "email", "provider": "http_gateway", "config": {"url": own.http_receiver.base}})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "channel", r.text


async def test_a_pool_of_its_own(own: Stack, pool: asyncpg.Pool) -> None:
    """The shared stack's database holds no integration from these tests."""
    assert await pool.fetchval("SELECT count(*) FROM integration") == 0


def herald(own: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": str(own.settings.database_url),
           "HERALD_DATA_DIR": str(own.settings.data_dir),  # the installation's generated sealing key
           "HERALD_WEBHOOK_ALLOWED_HOSTS": own.settings.webhook_allowed_hosts}  # the loopback doubles
    return subprocess.run([sys.executable, "-m", "cli.main", "integrations", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


async def test_the_command_line_manages_integrations_the_api_sees(
        api: Api, own: Stack, doubles: tuple[SendGridDouble, SendGridDouble]) -> None:
    config = json.dumps({"api_key": API_KEY, "from": VERIFIED_SENDER, "base_url": doubles[1].base})
    added = await asyncio.to_thread(herald, own, "add", "sg-cli", "--channel", "email", "--provider", "sendgrid",
                                    "--config", config, "--priority", "4", "--inactive")
    assert added.returncode == 0, added.stderr
    assert API_KEY not in added.stdout + added.stderr
    seen = (await api.http.get("/v1/integrations/sg-cli", headers=api.h)).json()
    assert (seen["priority"], seen["active"], seen["config"]["api_key"]) == (4, False, "****" + API_KEY[-4:])

    bad = await asyncio.to_thread(herald, own, "add", "sg-cli2", "--channel", "email", "--provider", "sendgrid",
                                  "--config", json.dumps({"from": VERIFIED_SENDER}))
    assert bad.returncode == 1 and "config.api_key" in bad.stderr
    edited = await asyncio.to_thread(herald, own, "edit", "sg-cli", "--active", "--priority", "2")
    assert edited.returncode == 0, edited.stderr
    assert (await api.http.get("/v1/integrations/sg-cli", headers=api.h)).json()["active"] is True
    listed = await asyncio.to_thread(herald, own, "list")
    assert any(line.startswith("sg-cli\temail\tsendgrid\t2\t") for line in listed.stdout.splitlines())
    assert API_KEY not in listed.stdout
    rcpt = address()
    tried = await asyncio.to_thread(herald, own, "test", "sg-cli", "--to", rcpt)
    assert tried.returncode == 0 and json.loads(tried.stdout)["ok"] is True and to(doubles[1], rcpt)
    assert (await asyncio.to_thread(herald, own, "edit", "env-smtp", "--priority", "3")).returncode == 1
    assert (await asyncio.to_thread(herald, own, "remove", "sg-cli")).returncode == 0
    assert (await api.http.get("/v1/integrations/sg-cli", headers=api.h)).status_code == 404


async def test_a_stored_postmark_integration_checks_its_webhooks_credentials(api: Api) -> None:
    """Postmark signs nothing: its webhooks carry the HTTP Basic credentials stored with the integration."""
    password = "hook-" + uuid.uuid4().hex
    created = await add(api, {"id": "pm-hooks", "channel": "email", "provider": "postmark", "active": False,
                              "config": {"server_token": "pm-token-" + "7" * 24, "from": VERIFIED_SENDER,
                                         "webhook_username": "herald", "webhook_password": password}})
    assert created["config"]["webhook_password"] == "****" + password[-4:]
    delivery = json.dumps({"RecordType": "Delivery", "MessageID": str(uuid.uuid4()), "Recipient": address(),
                           "DeliveredAt": "2026-12-01T06:00:00Z", "MessageStream": "outbound"})

    def basic(secret: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"herald:{secret}".encode()).decode(),
                "Content-Type": "application/json"}

    wrong = await api.http.post("/v1/feedback/pm-hooks", content=delivery, headers=basic(password + "x"))
    assert wrong.status_code == 401, wrong.text
    right = await api.http.post("/v1/feedback/pm-hooks", content=delivery, headers=basic(password))
    assert right.status_code == 200, right.text
    assert right.json()["unknown"] == 1  # verified, then read: no delivery of Herald's has that message id


async def test_a_changed_webhook_password_and_a_removed_integration_take_effect_within_seconds(api: Api) -> None:
    """The API keeps each feedback integration's secrets opened between callbacks (no read, no decryption per
    callback); an edit or a removal reaches it within seconds, through the integrations' change announcement."""
    old, new = "hook-" + uuid.uuid4().hex, "hook-" + uuid.uuid4().hex
    await add(api, {"id": "pm-rotate", "channel": "email", "provider": "postmark", "active": False,
                    "config": {"server_token": "pm-token-" + "7" * 24, "from": VERIFIED_SENDER,
                               "webhook_username": "herald", "webhook_password": old}})
    delivery = json.dumps({"RecordType": "Delivery", "MessageID": str(uuid.uuid4()), "Recipient": address(),
                           "DeliveredAt": "2026-12-01T06:00:00Z", "MessageStream": "outbound"})

    async def post(secret: str) -> int:
        basic = base64.b64encode(f"herald:{secret}".encode()).decode()
        r = await api.http.post("/v1/feedback/pm-rotate", content=delivery,
                                headers={"Authorization": f"Basic {basic}", "Content-Type": "application/json"})
        return r.status_code

    assert (await post(old), await post(new)) == (200, 401)
    await patch(api, "pm-rotate", {"config": {"webhook_password": new}})

    async def rotated() -> bool:
        return (await post(old), await post(new)) == (401, 200)
    await eventually(rotated, timeout_s=3, what="the new password to verify, and only it")

    assert (await api.http.delete("/v1/integrations/pm-rotate", headers=api.h)).status_code == 204

    async def gone() -> bool:
        return await post(new) == 404
    await eventually(gone, timeout_s=3, what="the removed integration to take no feedback")
