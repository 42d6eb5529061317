"""Every channel end to end on `make up`'s own stack: `python -m devstack` started once for the module, plus a
second `worker.py` as `make worker` adds one, driven through the public API only. Integrations are stored with
`POST /v1/integrations`, their `config.base_url` pointing at the strict vendor doubles of tests/vendors/ (and at
moto's SES), with loopback let through by HERALD_WEBHOOK_ALLOWED_HOSTS:

a. failover: the priority-1 integration answers a 5xx, then a 429 with Retry-After, until its attempts run out;
   the delivery lands on priority 2, and the attempt log of `GET /v1/notifications/{id}` names each attempt's
   integration;
b. a rate across two workers: both workers deliver a burst through one integration, and its double never sees
   more than `rate_per_s` requests within a second;
c. vendor feedback signed as the vendor signs it (SES through SNS with a certificate from a CA the stack trusts,
   Twilio's status callback) posted to the stored integration's `POST /v1/feedback/{id}`: the delivery ends
   bounced or undelivered, the address is suppressed, and the next send to it is skipped before any vendor call.
   FCM reports an unregistered token in the send's own answer (the token is suppressed then:
   tests/workflows/test_address_gone.py), and no chat vendor reports bounces: for push and chat the suppression
   is added through the API here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import trustme
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from tests.api.conftest import eventually
from tests.conftest import free_port
from tests.processes import ROOT, WorkerProcess
from tests.providers.test_feedback_ses import sign as sns_sign
from tests.providers.test_feedback_twilio import sign as twilio_sign
from tests.vendors import fcm, twilio
from tests.vendors.loopback import Double, Reply, phone_number
from tests.vendors.sendgrid import API_KEY, VERIFIED_SENDER, SendGridDouble, errors
from tests.vendors.ses import CONFIGURATION_SET, REGION, MotoSes
from tests.vendors.ses import VERIFIED_SENDER as SES_SENDER
from tests.vendors.slack import Slack

pytestmark = pytest.mark.timeout(600)

MAX_ATTEMPTS = 2  # per integration: the failover tests script that many failures
RATE, BURST = 2.0, 8
BURSTS = 3  # tries at a burst that both workers share
# How much closer together two requests may arrive at a double than their slots were: a slot is taken in
# PostgreSQL and its request leaves the worker a scheduling delay later, which on a busy 2-core machine reached
# ~0.3 s for one request (2026-12-01). Unlimited, a burst's requests arrive within a few tenths of a second.
JITTER_S = 0.4
TOPIC = "arn:aws:sns:eu-west-1:123456789012:herald-e2e"
FINAL = {"delivered", "dead_lettered", "skipped", "undelivered", "canceled", "discarded"}
FCM_PROJECT = "herald-e2e-1234"
FCM_EMAIL = "herald@herald-e2e-1234.iam.gserviceaccount.com"
FCM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SLACK_TOKEN = "xoxb-herald-e2e"
TWILIO_ACCOUNTS = ["AC" + uuid.uuid4().hex, "AC" + uuid.uuid4().hex]
TWILIO_TOKENS = {sid: "token-" + uuid.uuid4().hex for sid in TWILIO_ACCOUNTS}


@dataclass
class Vendor:
    """One channel's vendor as the tests drive it: two doubles (for priorities 1 and 2), the integration config
    that points at one, fresh addresses, the vendor's own transient failures, and when requests to an address
    reached a double (every well-formed one, scripted failures included)."""

    channel: str
    provider: str
    doubles: tuple[Double, Double]
    config: Callable[[int], dict[str, Any]]
    address: Callable[[], str]
    failures: list[Reply]
    addressed: Callable[[Double, str], list[float]]

    def arrivals(self, index: int, address: str) -> list[float]:
        return sorted(self.addressed(self.doubles[index], address))


def by_field(name: str) -> Callable[[Double, str], list[float]]:
    return lambda double, address: [r.at for r in double.to(address, name)]


def sendgrid_recipient(double: Double, address: str) -> list[float]:
    return [r.at for r in double.received if r.fields["personalizations"][0]["to"][0]["email"] == address]


def service_account(double: fcm.Fcm) -> str:
    key = FCM_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": FCM_PROJECT, "private_key_id": "k1",
                       "private_key": key, "client_email": FCM_EMAIL, "token_uri": double.token_uri})


def vendors() -> dict[str, Vendor]:
    sendgrid = (SendGridDouble(), SendGridDouble())
    twilios = (twilio.Twilio({TWILIO_ACCOUNTS[0]: TWILIO_TOKENS[TWILIO_ACCOUNTS[0]]}),
               twilio.Twilio({TWILIO_ACCOUNTS[1]: TWILIO_TOKENS[TWILIO_ACCOUNTS[1]]}))
    public = FCM_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    fcms = (fcm.Fcm(FCM_PROJECT, FCM_EMAIL, public), fcm.Fcm(FCM_PROJECT, FCM_EMAIL, public))
    slacks = (Slack(set(), {SLACK_TOKEN}, set()), Slack(set(), {SLACK_TOKEN}, set()))

    def slack_channel() -> str:
        channel = "C" + uuid.uuid4().hex[:10].upper()
        for double in slacks:
            double.channels.add(channel)
        return channel

    return {
        "email": Vendor("email", "sendgrid", sendgrid,
                        lambda i: {"api_key": API_KEY, "from": f"Alerts <{VERIFIED_SENDER}>",
                                   "base_url": sendgrid[i].base},
                        lambda: f"e2e-{uuid.uuid4().hex[:10]}@example.com",
                        [Reply(503, errors((None, "Service Unavailable"))),
                         Reply(429, errors((None, "too many requests")), {"Retry-After": "1"})],
                        sendgrid_recipient),
        "sms": Vendor("sms", "twilio", twilios,
                      lambda i: {"account_sid": TWILIO_ACCOUNTS[i], "auth_token": TWILIO_TOKENS[TWILIO_ACCOUNTS[i]],
                                 "from": "+14155550100", "base_url": twilios[i].base},
                      phone_number,
                      [twilio.error(503, 20500, "Service Unavailable"),
                       twilio.error(429, 20429, "Too Many Requests", {"Retry-After": "1"})],
                      by_field("To")),
        "push": Vendor("push", "fcm", fcms,
                       lambda i: {"project_id": FCM_PROJECT, "service_account_json": service_account(fcms[i]),
                                  "base_url": fcms[i].base},
                       lambda: "device-" + uuid.uuid4().hex,
                       [fcm.error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
                        fcm.error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED",
                                  {"Retry-After": "1"})],
                       by_field("token")),
        "chat": Vendor("chat", "slack", slacks,
                       lambda i: {"bot_token": SLACK_TOKEN, "base_url": slacks[i].base},
                       slack_channel,
                       [Reply(503, "service_unavailable"), Reply(429, "rate_limited", {"Retry-After": "1"})],
                       by_field("channel")),
    }


@dataclass
class SnsCertificates:
    """An SNS signing certificate served over https by a CA of the test's own, which the stack trusts."""

    url: str
    key: rsa.RSAPrivateKey
    ca_file: Path
    server: uvicorn.Server
    task: asyncio.Task[None]


async def sns_certificates(folder: Path) -> SnsCertificates:
    tls_ca = trustme.CA()
    tls_ca.cert_pem.write_to_path(str(folder / "sns-ca.pem"))
    tls_ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(folder / "sns-tls.pem"))
    signing = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("sns.eu-west-1.amazonaws.com",
                                                                  key_type=trustme.KeyType.RSA)
    key = serialization.load_pem_private_key(signing.private_key_pem.bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    pem = signing.cert_chain_pems[0].bytes()
    app = Starlette(routes=[Route("/{name}", lambda _: Response(pem, media_type="application/x-pem-file"))])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           ssl_certfile=str(folder / "sns-tls.pem")))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.02)
    return SnsCertificates(f"https://127.0.0.1:{port}/SimpleNotificationService-e2e.pem", key,
                           folder / "sns-ca.pem", server, task)


@dataclass
class Stack:
    base: str
    http: httpx.AsyncClient
    vendors: dict[str, Vendor]
    moto: MotoSes
    sns: SnsCertificates
    metrics: list[str]  # each worker's metrics URL: make up's, then the added one's

    async def add(self, body: dict[str, Any]) -> None:
        answer = await self.http.post("/v1/integrations", json=body)
        assert answer.status_code == 201, answer.text

    async def send(self, channel: str, address: str) -> str:
        answer = await self.http.post("/v1/notifications", json={
            "to": {channel: address}, "channels": [channel], "template": "e2e", "data": {"n": uuid.uuid4().hex[:6]}})
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])

    async def ended(self, notification_id: str, timeout_s: float = 60) -> dict[str, Any]:
        async def final() -> dict[str, Any] | None:
            shown: dict[str, Any] = (await self.http.get(f"/v1/notifications/{notification_id}")).json()
            return shown if shown["status"] in FINAL else None
        done: dict[str, Any] = await eventually(final, timeout_s=timeout_s, what=f"{notification_id} to end")
        return done

    async def delivered_by_worker(self, integration_id: str) -> list[float]:
        """How many sends each worker delivered through the integration, from its own metrics."""
        pattern = re.compile(r'^herald_deliveries_total\{([^}]*)\} ([0-9.e+]+)$', re.MULTILINE)
        counts = []
        for url in self.metrics:
            text = (await self.http.get(url)).text
            counts.append(sum(float(value) for labels, value in pattern.findall(text)
                              if f'provider="{integration_id}"' in labels and 'outcome="delivered"' in labels))
        return counts


def stack_environment(data_dir: Path, api_port: int, sns: SnsCertificates) -> dict[str, str]:
    """What make up and the added worker both run with: loopback vendors allowed, few and quick retries, the
    feedback URL the vendors are given, and the test CA and host trusted for SNS signing certificates."""
    env = {k: v for k, v in os.environ.items() if k not in (
        "DATABASE_URL", "TEMPORAL_ADDRESS", "HERALD_ADMIN_KEY", "HERALD_SMTP_HOST", "HERALD_SMTP_PORT",
        "HERALD_SMS_WEBHOOK_URL", "HERALD_PUSH_WEBHOOK_URL")}
    env.update(HERALD_DATA_DIR=str(data_dir), HERALD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
               HERALD_PUBLIC_URL=f"http://127.0.0.1:{api_port}", HERALD_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
               HERALD_RETRY_INITIAL_S="0.2", HERALD_RETRY_MAX_S="1", SSL_CERT_FILE=str(sns.ca_file),
               HERALD_SNS_CERT_HOST=sns.url.split("/")[2])
    return env


async def stop_make_up(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()


def stop_left_postgres(pgdata: Path) -> int | None:
    """Stops a PostgreSQL still running from `pgdata` (a leak on a shared machine) and returns its pid."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
    return pid


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    data_dir = Path(tempfile.mkdtemp(prefix="he2e-", dir="/tmp"))  # short: it holds PostgreSQL's socket
    ports = {name: free_port() for name in ("api", "temporal", "ui", "metrics", "metrics2", "mail", "gateways")}
    base = f"http://127.0.0.1:{ports['api']}"
    sns = await sns_certificates(data_dir)
    moto = MotoSes()
    await asyncio.to_thread(moto.start)
    channel_vendors = vendors()
    for vendor in channel_vendors.values():
        for double in vendor.doubles:
            await double.start()
    env = stack_environment(data_dir, ports["api"], sns)
    log = (data_dir / "make-up.log").open("wb")
    make_up = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devstack", cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**env, "HERALD_API_PORT": str(ports["api"]), "HERALD_TEMPORAL_PORT": str(ports["temporal"]),
             "HERALD_TEMPORAL_UI_PORT": str(ports["ui"]),
             "HERALD_WORKER_METRICS_ADDRESS": f"127.0.0.1:{ports['metrics']}",
             "HERALD_MAIL_CATCHER_PORT": str(ports["mail"]), "HERALD_GATEWAY_CATCHER_PORT": str(ports["gateways"])})
    worker: WorkerProcess | None = None
    try:
        async def ready() -> bool:
            assert make_up.returncode is None, (data_dir / "make-up.log").read_text()[-3000:]
            try:
                async with httpx.AsyncClient() as probe:
                    return (await probe.get(f"{base}/ready", timeout=2)).status_code == 200
            except httpx.HTTPError:
                return False
        await eventually(ready, timeout_s=120, what="make up to be ready")
        # `make worker`: one more worker joining make up's embedded database and Temporal server.
        worker = WorkerProcess({**env, "HERALD_EMBEDDED": "true", "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
                                "HERALD_WORKER_METRICS_ADDRESS": f"127.0.0.1:{ports['metrics2']}"})
        metrics = [f"http://127.0.0.1:{ports['metrics']}/metrics", f"http://127.0.0.1:{ports['metrics2']}/metrics"]
        key = (data_dir / "admin_key").read_text().strip()
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
            async def serving(url: str) -> bool:
                assert worker is not None and worker.process.poll() is None, worker.output()[-3000:] if worker else ""
                try:
                    return (await http.get(url)).status_code == 200
                except httpx.TransportError:
                    return False
            for url in metrics:
                await eventually(functools.partial(serving, url), timeout_s=60, what=f"the worker serving {url}")
            created = await http.post("/v1/templates", json={"name": "e2e", "subject": "Order {{ n }}",
                                                             "body": "Your order {{ n }} shipped."})
            assert created.status_code == 201, created.text
            yield Stack(base, http, channel_vendors, moto, sns, metrics)
    finally:
        # The added worker first: it shares make up's embedded PostgreSQL, which make up stops only once the
        # last process using it has ended.
        if worker is not None:
            try:
                await worker.terminate()
            finally:
                worker.kill()
        await stop_make_up(make_up)
        log.close()
        left_running = stop_left_postgres(data_dir / "pg")
        for vendor in channel_vendors.values():
            for double in vendor.doubles:
                await double.stop()
        await asyncio.to_thread(moto.stop)
        sns.server.should_exit = True
        await sns.task
    assert left_running is None, f"make up left its PostgreSQL (pid {left_running}) running"
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def integrations(stack: Stack) -> AsyncIterator[list[str]]:
    """The ids of the integrations a test adds: removed after it, so each test has its channel to itself."""
    added: list[str] = []
    yield added
    for integration_id in added:
        await stack.http.delete(f"/v1/integrations/{integration_id}")


async def integrate(stack: Stack, added: list[str], vendor: Vendor, index: int, **fields: Any) -> str:
    integration_id = f"{vendor.provider}-{index + 1}-{uuid.uuid4().hex[:6]}"
    await stack.add({"id": integration_id, "channel": vendor.channel, "provider": vendor.provider,
                     "config": vendor.config(index), **fields})
    added.append(integration_id)
    return integration_id


CHANNELS = ["email", "sms", "push", "chat"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_failing_integration_fails_over_to_the_next(stack: Stack, integrations: list[str],
                                                            channel: str) -> None:
    vendor = stack.vendors[channel]
    first = await integrate(stack, integrations, vendor, 0, priority=1)
    second = await integrate(stack, integrations, vendor, 1, priority=2)
    address = vendor.address()
    vendor.doubles[0].script[address] = list(vendor.failures)

    done = await stack.ended(await stack.send(channel, address))

    assert done["status"] == "delivered", done
    [delivery] = done["deliveries"]
    assert (delivery["status"], delivery["provider"]) == ("delivered", second)
    assert [(a["provider"], a["outcome"]) for a in done["attempt_log"]] == (
        [(first, "failed")] * MAX_ATTEMPTS + [(second, "delivered")])
    assert any(e["event"] == "failover" for e in done["timeline"])
    assert len(vendor.arrivals(0, address)) == MAX_ATTEMPTS and len(vendor.arrivals(1, address)) == 1
    assert vendor.doubles[0].script[address] == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_an_integrations_rate_holds_across_both_workers(stack: Stack, integrations: list[str],
                                                              channel: str) -> None:
    vendor = stack.vendors[channel]
    paced = await integrate(stack, integrations, vendor, 0, rate_per_s=RATE)
    # Until each worker has sent through it once: a first send also opens connections and, for FCM, fetches
    # the OAuth token, which would delay that one request and bunch it with the next. Whichever worker's starter
    # wakes first takes a send, and on a busy machine one may win a dozen times in a row.
    warmed = await stack.delivered_by_worker(paced)
    while not all(warmed):
        assert sum(warmed) < 40, f"one worker delivered every send: {warmed}"
        await stack.ended(await stack.send(channel, vendor.address()))
        warmed = await stack.delivered_by_worker(paced)
    # A burst's rows usually go to whichever worker's starter wakes first, and it runs them all: the rate is
    # shown shared only by a burst both workers delivered, and every burst must keep it.
    for _ in range(BURSTS):
        before = await stack.delivered_by_worker(paced)
        await paced_burst(stack, vendor)
        after = await stack.delivered_by_worker(paced)
        if all(now > then for now, then in zip(after, before, strict=True)):
            return
    pytest.fail(f"no burst of {BURSTS} was delivered by both workers: {after}")


async def paced_burst(stack: Stack, vendor: Vendor) -> None:
    """BURST sends at once through the integration paced at RATE: delivered, and never faster than RATE."""
    addresses = [vendor.address() for _ in range(BURST)]
    sent = await asyncio.gather(*(stack.send(vendor.channel, address) for address in addresses))
    done = await asyncio.gather(*(stack.ended(notification_id) for notification_id in sent))

    assert [d["status"] for d in done] == ["delivered"] * BURST, done
    times = sorted(t for address in addresses for t in vendor.arrivals(0, address))
    assert len(times) == BURST
    # Herald's slots allow no burst: any RATE + 1 requests in a row span at least a second.
    window = int(RATE)
    spans = [round(later - earlier, 3) for earlier, later in zip(times, times[window:], strict=False)]
    assert min(spans) >= 1.0 - JITTER_S, spans
    assert times[-1] - times[0] >= (BURST - 1) / RATE - JITTER_S, spans  # the long run keeps the rate exactly


def ses_bounce(message_id: str, address: str) -> dict[str, Any]:
    """SES's documented Bounce notification, for the email SES accepted."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"notificationType": "Bounce",
            "mail": {"timestamp": now, "messageId": message_id, "source": SES_SENDER, "destination": [address]},
            "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "timestamp": now,
                       "feedbackId": uuid.uuid4().hex,
                       "bouncedRecipients": [{"emailAddress": address, "status": "5.1.1",
                                              "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}}


def sns_notification(stack: Stack, ses_message: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
            "Message": json.dumps(ses_message),
            "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "SigningCertURL": stack.sns.url, "UnsubscribeURL": f"{stack.sns.url}?Action=Unsubscribe"}


async def listed(stack: Stack, channel: str, address: str) -> list[tuple[str, str]]:
    """The suppressions `GET /v1/suppressions` lists for the address."""
    items = (await stack.http.get("/v1/suppressions", params={"channel": channel, "address": address})).json()["items"]
    return [(s["channel"], s["address"]) for s in items]


async def suppressed_then_skipped(stack: Stack, vendor: Vendor, address: str, stored: str) -> None:
    """The address is listed as suppressed, and the next send to it ends skipped without a request to a double."""
    assert await listed(stack, vendor.channel, address) == [(vendor.channel, stored)]
    before = [vendor.arrivals(i, address) for i in (0, 1)]
    done = await stack.ended(await stack.send(vendor.channel, address))
    assert done["status"] == "skipped", done
    assert done["deliveries"][0]["status"] == "skipped"
    assert any("suppressed" in e["detail"] for e in done["timeline"]), done["timeline"]
    assert done["attempt_log"] == []
    assert [vendor.arrivals(i, address) for i in (0, 1)] == before


async def test_an_ses_bounce_through_sns_suppresses_the_address_and_the_next_email_is_skipped(
        stack: Stack, integrations: list[str]) -> None:
    integration_id = f"ses-{uuid.uuid4().hex[:6]}"
    await stack.add({"id": integration_id, "channel": "email", "provider": "ses", "config": {
        "region": REGION, "access_key_id": stack.moto.access_key_id, "secret_access_key": stack.moto.secret_access_key,
        "from": SES_SENDER, "configuration_set": CONFIGURATION_SET, "topic_arn": TOPIC,
        "base_url": stack.moto.base_url}})
    integrations.append(integration_id)
    address = f"e2e-{uuid.uuid4().hex[:10]}@example.com"

    def sent_to_address() -> list[dict[str, Any]]:
        return [m for m in stack.moto.sent() if m["destinations"] == {"ToAddresses": [address]}]

    done = await stack.ended(await stack.send("email", address))
    [delivery] = done["deliveries"]
    assert (done["status"], delivery["provider"]) == ("delivered", integration_id), done
    [stored] = await asyncio.to_thread(sent_to_address)
    assert delivery["provider_message_id"] == stored["id"]

    feedback = f"/v1/feedback/{integration_id}"
    headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
    bounce = sns_notification(stack, ses_bounce(stored["id"], address))
    forged = sns_sign(bounce, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    refused = await stack.http.post(feedback, content=json.dumps(forged), headers=headers)
    assert refused.status_code == 401, refused.text
    assert (await stack.http.get(f"/v1/notifications/{done['id']}")).json()["deliveries"][0]["status"] == "delivered"
    assert await listed(stack, "email", address) == []

    answer = await stack.http.post(feedback, content=json.dumps(sns_sign(bounce, stack.sns.key, "2")),
                                   headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] == 1
    shown = (await stack.http.get(f"/v1/notifications/{done['id']}")).json()
    assert (shown["status"], shown["deliveries"][0]["status"]) == ("undelivered", "bounced"), shown
    assert any("550 5.1.1 user unknown" in e["detail"] for e in shown["timeline"]), shown["timeline"]
    await suppressed_then_skipped(stack, stack.vendors["email"], address, address)
    assert await asyncio.to_thread(sent_to_address) == [stored]


async def test_a_twilio_undelivered_callback_suppresses_the_number_and_the_next_sms_is_skipped(
        stack: Stack, integrations: list[str]) -> None:
    vendor = stack.vendors["sms"]
    integration_id = await integrate(stack, integrations, vendor, 0)
    address = vendor.address()
    done = await stack.ended(await stack.send("sms", address))
    [delivery] = done["deliveries"]
    assert (done["status"], delivery["provider"]) == ("delivered", integration_id), done
    [request] = vendor.doubles[0].to(address, "To")
    callback_url = f"{stack.base}/v1/feedback/{integration_id}"
    assert request.fields["StatusCallback"] == callback_url

    account = TWILIO_ACCOUNTS[0]
    params = {"MessageSid": delivery["provider_message_id"], "MessageStatus": "undelivered", "ErrorCode": "30006",
              "AccountSid": account, "From": "+14155550100", "To": address, "ApiVersion": "2010-04-01"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    wrong = twilio_sign(callback_url, params, token="not-the-auth-token")
    refused = await stack.http.post(f"/v1/feedback/{integration_id}", content=urlencode(params),
                                    headers={**form, "X-Twilio-Signature": wrong})
    assert refused.status_code == 401, refused.text
    assert await listed(stack, "sms", address) == []

    signature = twilio_sign(callback_url, params, token=TWILIO_TOKENS[account])
    answer = await stack.http.post(f"/v1/feedback/{integration_id}", content=urlencode(params),
                                   headers={**form, "X-Twilio-Signature": signature})
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] == 1
    shown = (await stack.http.get(f"/v1/notifications/{done['id']}")).json()
    assert (shown["status"], shown["deliveries"][0]["status"]) == ("undelivered", "undelivered"), shown
    assert any("30006" in e["detail"] for e in shown["timeline"]), shown["timeline"]
    await suppressed_then_skipped(stack, vendor, address, address)


@pytest.mark.parametrize("channel", ["push", "chat"])
async def test_a_suppressed_push_token_or_chat_address_is_skipped_before_the_vendor(
        stack: Stack, integrations: list[str], channel: str) -> None:
    vendor = stack.vendors[channel]
    await integrate(stack, integrations, vendor, 0)
    address = vendor.address()
    added = await stack.http.post("/v1/suppressions", json={"channel": channel, "address": address,
                                                            "reason": "uninstalled"})
    assert added.status_code == 201, added.text
    await suppressed_then_skipped(stack, vendor, address, address)
