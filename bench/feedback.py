"""Bench part `feedback`: vendors' signed delivery feedback at an open-loop rate of events, next to a steady send
load, and afterwards PostgreSQL's word that every event was applied exactly once.

Three stored integrations are created through the API (inactive, so the sends of the load do not use them):
SendGrid, which posts arrays of events (`BATCH` per request), and Mailgun and Twilio, which post one event per
request. Deliveries that each vendor accepted are seeded by COPY (a notification, its delivery and the receipt
with the vendor's message id). Every delivery gets its vendor's events for one outcome: delivered, a hard bounce
(sometimes with a "delivered" too, in either order) or a complaint (after a "delivered", in either order); Twilio
adds its `sent` status, which Herald ignores. The events are shuffled, so the two events of a delivery arrive in
any order, and `DUPLICATES` of them are posted again later, as vendors retry. Every request is signed as its
vendor signs (ECDSA P-256, HMAC-SHA256, HMAC-SHA1), before the load starts, so the load generator only posts.

The send load (`POST /v1/notifications`, open loop) runs twice for the same time: alone, then while the
feedback is posted; accept p99 of both say what feedback costs the accept path. The workers stop meanwhile (the
drain's cost to accepting is the accept target's part), and deliver the sends afterwards. The callbacks go, as a
deployment that takes vendors' feedback at volume routes them, to an API process of their own with fewer CPU
shares than the accepting one (`FEEDBACK_NICE`) and `FEEDBACK_TURNS` statements at once; `--feedback-api shared`
posts them to the accepting API. A feedback request that fails is
posted again at the end, as the vendor would. Then every seeded delivery is checked against its events.

    python -m bench --only feedback [--quick] [--feedback-api shared]
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
import psutil
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench import load
from bench.progress import Progress
from bench.stack import Stack, db_pool
from core.settings import Settings
from core.workflow_ids import notification_workflow_id
from providers.feedback.twilio import signature as twilio_signature
from services.feedback import feedback_url

TARGET_P99_MS = 50.0  # accept p99 while feedback arrives
SEND_RATE = 50.0  # sends/s beside the feedback
FEEDBACK_NICE = 10  # the callbacks' own API process below the accepting one
# Its statements at once (HERALD_FEEDBACK_CONCURRENCY): callbacks that wait share one, so PostgreSQL spends less on
# each event and runs at most this many of them beside the accepts.
FEEDBACK_TURNS = 2
BATCH = 50  # SendGrid events per request
DUPLICATES = 0.1  # share of events a vendor posts again
SHARE = {"sendgrid": 0.8, "mailgun": 0.1, "twilio": 0.1}  # of the deliveries
CHANNEL = {"sendgrid": "email", "mailgun": "email", "twilio": "sms"}
INTEGRATION = {vendor: f"bench-{vendor}" for vendor in SHARE}
MAILGUN_KEY = "bench-mailgun-signing-key-" + "7" * 16
TWILIO_TOKEN = "bench-twilio-auth-token-" + "5" * 16
TWILIO_SID = "AC" + "0" * 32
# Final delivery status each outcome must leave, per vendor (a Twilio failure is `undelivered`).
FINAL = {"delivered": "delivered", "bounced": "bounced", "complained": "complained", "undelivered": "undelivered"}


@dataclass(frozen=True)
class Delivery:
    notification_id: str
    vendor: str
    message_id: str  # as the vendor answered the send (the receipt)
    address: str
    outcome: str  # delivered, bounced, complained (email), undelivered (SMS)


@dataclass(frozen=True)
class Event:
    """One vendor event about one delivery; `acts` when Herald applies it (not Twilio's `sent`)."""

    delivery: Delivery
    name: str
    event_id: str
    acts: bool
    late: bool = False  # a "delivered" reported with a time before the bounce or complaint


@dataclass(frozen=True)
class Post:
    """One signed request as a vendor sends it, due after `slot` events of the whole stream."""

    vendor: str
    slot: int
    body: bytes
    headers: dict[str, str]
    events: int


@dataclass
class Plan:
    deliveries: list[Delivery]
    posts: list[Post]
    events: int  # every event posted, repeats included
    distinct_acting: int  # events Herald applies, each once
    repeats: int
    out_of_order: int  # deliveries whose bounce or complaint is posted before their "delivered"


@dataclass
class Answered:
    """What the vendors saw: latency of each request from when it was due, and Herald's counts."""

    started: float
    latencies_ms: list[float] = field(default_factory=list)
    events_done: int = 0
    last_at: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    failed: list[Post] = field(default_factory=list)
    first_failure: str = ""


def outcome_for(vendor: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.8:
        return "delivered"
    if vendor == "twilio":
        return "undelivered"
    return "bounced" if roll < 0.95 else "complained"


def address_for(vendor: str, run: str, index: int) -> str:
    return f"+1212{2000000 + index:07d}" if vendor == "twilio" else f"fb{run}-{index:06d}@bench.example.com"


def message_id_for(vendor: str, run: str, index: int) -> str:
    if vendor == "sendgrid":
        return f"sg{run}{index:010d}.bench"
    if vendor == "mailgun":
        return f"<{run}{index:010d}.bench@mg.example.com>"
    return f"SM{run}{index:024x}"


def events_of(delivery: Delivery, rng: random.Random) -> list[Event]:
    nid, vendor = delivery.notification_id, delivery.vendor

    def event(name: str, acts: bool = True, late: bool = False) -> Event:
        return Event(delivery, name, f"{nid}-{name}", acts, late)

    if delivery.outcome == "delivered":
        return [event("sent", acts=False), event("delivered")] if vendor == "twilio" else [event("delivered")]
    if delivery.outcome == "undelivered":
        return [event("sent", acts=False), event("undelivered")]
    if delivery.outcome == "complained" or rng.random() < 0.5:
        return [event(delivery.outcome), event("delivered", late=True)]
    return [event(delivery.outcome)]


def sendgrid_item(e: Event, at: int) -> dict[str, Any]:
    d = e.delivery
    item = {"email": d.address, "timestamp": at - (60 if e.late else 0), "event": e.name, "sg_event_id": e.event_id,
            "sg_message_id": f"{d.message_id}.filter0001.16648.5515E0B88.0", "smtp-id": f"<{d.message_id}@ismtpd>"}
    if e.name == "bounced":
        item.update(event="bounce", type="bounce", status="5.1.1", reason="550 5.1.1 The email account does not exist")
    elif e.name == "complained":
        item.update(event="spamreport")
    else:
        item.update(response="250 OK")
    return item


def mailgun_body(e: Event, at: int, rng: random.Random) -> bytes:
    d = e.delivery
    timestamp, token = str(at), f"{rng.getrandbits(200):050x}"
    signed = hmac.new(MAILGUN_KEY.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    data: dict[str, Any] = {"id": e.event_id, "timestamp": at - (60 if e.late else 0), "recipient": d.address,
                            "message": {"headers": {"message-id": d.message_id.strip("<>")}}}
    if e.name == "bounced":
        data.update(event="failed", severity="permanent", reason="bounce",
                    **{"delivery-status": {"code": 550, "description": "No such mailbox"}})
    else:
        data.update(event=e.name, **({"delivery-status": {"code": 250, "message": "OK"}}
                                     if e.name == "delivered" else {}))
    return json.dumps({"signature": {"timestamp": timestamp, "token": token, "signature": signed},
                       "event-data": data}).encode()


def twilio_post(e: Event, url: str) -> tuple[bytes, dict[str, str]]:
    d = e.delivery
    params = [("AccountSid", TWILIO_SID), ("ApiVersion", "2010-04-01"), ("From", "+12125550100"),
              ("MessageSid", d.message_id), ("MessageStatus", e.name), ("SmsSid", d.message_id),
              ("SmsStatus", e.name), ("To", d.address)]
    if e.name == "undelivered":
        params.append(("ErrorCode", "30005"))
    return urlencode(params).encode(), {"Content-Type": "application/x-www-form-urlencoded",
                                        "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params)}


def sendgrid_headers(key: ec.EllipticCurvePrivateKey, body: bytes, at: int) -> dict[str, str]:
    signed = key.sign(str(at).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Timestamp": str(at),
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signed).decode()}


def plan(total_events: int, public_url: str, sendgrid_key: ec.EllipticCurvePrivateKey, run: str,
         seed: int = 20) -> Plan:
    """Deliveries and their vendors' signed requests: about `total_events` events, repeats included; `run` keeps
    the ids of one plan apart from another's in the same database."""
    rng = random.Random(seed)
    vendors, weights = list(SHARE), list(SHARE.values())
    deliveries: list[Delivery] = []
    stream: list[Event] = []
    while len(stream) * (1 + DUPLICATES) < total_events:
        index = len(deliveries)
        vendor = rng.choices(vendors, weights)[0]
        delivery = Delivery(f"fb-{run}-{index:07d}", vendor, message_id_for(vendor, run, index),
                            address_for(vendor, run, index), outcome_for(vendor, rng))
        deliveries.append(delivery)
        stream += events_of(delivery, rng)
    rng.shuffle(stream)
    distinct_acting = sum(e.acts for e in stream)
    # A vendor's retry comes some time after the original.
    placed = [(float(i), e) for i, e in enumerate(stream)]
    placed += [(rng.uniform(i + 0.5, len(stream)), stream[i])
               for i in rng.sample(range(len(stream)), int(len(stream) * DUPLICATES))]
    repeats = len(placed) - len(stream)
    stream = [e for _, e in sorted(placed, key=lambda p: p[0])]
    out_of_order = _out_of_order(stream)
    at = int(time.time())
    posts: list[Post] = []
    batch: list[dict[str, Any]] = []
    for slot, event in enumerate(stream, start=1):
        vendor = event.delivery.vendor
        if vendor == "sendgrid":
            batch.append(sendgrid_item(event, at))
            if len(batch) == BATCH:
                posts.append(_sendgrid_post(batch, slot, sendgrid_key, at))
                batch = []
        elif vendor == "mailgun":
            posts.append(Post(vendor, slot, mailgun_body(event, at, rng), {"Content-Type": "application/json"}, 1))
        else:
            body, headers = twilio_post(event, feedback_url(public_url, INTEGRATION["twilio"]))
            posts.append(Post(vendor, slot, body, headers, 1))
    if batch:
        posts.append(_sendgrid_post(batch, len(stream), sendgrid_key, at))
    return Plan(deliveries, posts, len(stream), distinct_acting, repeats, out_of_order)


def _sendgrid_post(batch: list[dict[str, Any]], slot: int, key: ec.EllipticCurvePrivateKey, at: int) -> Post:
    body = json.dumps(batch).encode()
    return Post("sendgrid", slot, body, sendgrid_headers(key, body, at), len(batch))


def _out_of_order(stream: list[Event]) -> int:
    """Deliveries whose bounce or complaint is first posted before their "delivered"."""
    first: dict[tuple[str, str], int] = {}
    for position, event in enumerate(stream):
        first.setdefault((event.delivery.notification_id, event.name), position)
    return sum(1 for (nid, name), position in first.items()
               if name == "delivered" and any(first.get((nid, other), position) < position
                                              for other in ("bounced", "complained")))


async def create_integrations(stack: Stack, sendgrid_key: ec.EllipticCurvePrivateKey) -> None:
    """The three vendors' integrations through the API, inactive: they only take feedback here."""
    public = sendgrid_key.public_key().public_bytes(serialization.Encoding.DER,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    configs = {
        "sendgrid": {"api_key": "SG.bench", "from": "bench@example.com",
                     "webhook_verification_key": base64.b64encode(public).decode()},
        "mailgun": {"api_key": "key-bench", "domain": "mg.example.com", "from": "bench@mg.example.com",
                    "webhook_signing_key": MAILGUN_KEY},
        "twilio": {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from": "+12125550100"},
    }
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=30) as http:
        for vendor, config in configs.items():
            r = await http.post("/v1/integrations", json={"id": INTEGRATION[vendor], "channel": CHANNEL[vendor],
                                                          "provider": vendor, "config": config, "active": False})
            if r.status_code == 409:  # from an earlier run on this database: this run's keys replace its
                r = await http.patch(f"/v1/integrations/{INTEGRATION[vendor]}", json={"config": config})
            if r.status_code not in (200, 201):
                raise RuntimeError(f"creating the {vendor} integration: {r.status_code} {r.text}")


async def seed(stack: Stack, deliveries: list[Delivery]) -> None:
    """Each delivery as a send through its vendor left it: delivered, with the vendor's message id."""
    pool = await db_pool(stack, 2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO notification (id, idempotency_key, request_hash, workflow_id, status, recipient,
                                             channels, priority, template, template_version, delivered_at)
                   SELECT u.id, u.id, 'h', u.workflow_id, 'delivered', jsonb_build_object(u.channel, u.address),
                          ARRAY[u.channel], 'transactional', $5, 1, now()
                   FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u (id, workflow_id, channel,
                                                                                     address)""",
                [d.notification_id for d in deliveries],
                [notification_workflow_id(d.notification_id) for d in deliveries],
                [CHANNEL[d.vendor] for d in deliveries], [d.address for d in deliveries], load.TEMPLATE)
            await conn.copy_records_to_table(
                "delivery", columns=["notification_id", "channel", "status", "provider", "attempts",
                                     "provider_message_id"],
                records=[(d.notification_id, CHANNEL[d.vendor], "delivered", INTEGRATION[d.vendor], 1, d.message_id)
                         for d in deliveries])
            await conn.copy_records_to_table(
                "delivery_receipt", columns=["notification_id", "channel", "provider", "provider_message_id",
                                             "attempt"],
                records=[(d.notification_id, CHANNEL[d.vendor], INTEGRATION[d.vendor], d.message_id, 1)
                         for d in deliveries])
        await pool.execute("ANALYZE notification, delivery, delivery_receipt")
    finally:
        await pool.close()


async def post_all(session: aiohttp.ClientSession, posts: list[Post], rate: float, progress: Progress,
                   in_flight: int = 64) -> Answered:
    """Each post when its first event is due at `rate` events/s, whatever the earlier ones do (open loop);
    a request waiting for a free connection counts that wait in its latency."""
    answered = Answered(started=time.monotonic())
    slots = asyncio.Semaphore(in_flight)

    async def one(post: Post, due: float) -> None:
        async with slots:
            try:
                async with session.post(f"/v1/feedback/{INTEGRATION[post.vendor]}", data=post.body,
                                        headers=post.headers) as r:
                    status, text = r.status, await r.text()
            except (TimeoutError, aiohttp.ClientError) as exc:
                status, text = 0, f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if status != 200:
            answered.failed.append(post)
            answered.first_failure = answered.first_failure or f"{status} {text[:300]}"
            return
        answered.latencies_ms.append((now - due) * 1000)
        answered.counts.update(json.loads(text))
        answered.events_done += post.events
        answered.last_at = now
        progress.update(answered.events_done)

    tasks = []
    with load.collector_paused():
        for post in posts:
            due = answered.started + (post.slot - post.events) / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(post, due)))
        await asyncio.gather(*tasks)
    return answered


async def send_load(stack: Stack, rate: float, seconds: float, label: str, quiet: bool = False) -> load.Sent:
    async with load.Sender(stack.api_url, stack.headers) as sender:
        return await load.open_loop(sender, rate, seconds, load.body_for,
                                    Progress(label, int(rate * seconds), quiet=quiet))


async def check(stack: Stack, plan_: Plan) -> dict[str, Any]:
    """Every seeded delivery against its events: the status its outcome demands, a suppression for each bounce,
    complaint and permanent failure, each event recorded once and each timeline entry written once."""
    ids = [d.notification_id for d in plan_.deliveries]
    pool = await db_pool(stack, 2)
    try:
        rows = await pool.fetch(
            """SELECT d.notification_id, d.status, d.confirmed_at IS NOT NULL AS confirmed, n.status AS nstatus,
                      s.address IS NOT NULL AS suppressed,
                      (SELECT count(*) FROM feedback_event f WHERE f.notification_id = d.notification_id) AS recorded,
                      count(e.id) FILTER (WHERE e.event = 'confirmed') AS confirmations,
                      count(e.id) FILTER (WHERE e.event <> 'confirmed') AS endings
               FROM delivery d JOIN notification n ON n.id = d.notification_id
               LEFT JOIN suppression s ON s.channel = d.channel AND s.address = lower(n.recipient ->> d.channel)
               LEFT JOIN notification_event e ON e.notification_id = d.notification_id
               WHERE d.notification_id = ANY ($1::text[])
               GROUP BY d.notification_id, d.status, d.confirmed_at, n.status, s.address""",
            ids)
    finally:
        await pool.close()
    by_id = {r["notification_id"]: r for r in rows}
    lost: list[str] = []
    twice: list[str] = []
    for d in plan_.deliveries:
        row = by_id.get(d.notification_id)
        # An ending writes the delivery's event and the notification's `undelivered`; a late "delivered" may
        # still confirm first.
        ends = d.outcome != "delivered"
        endings, confirmations = (2 if ends else 0), (0 if ends else 1)
        if row is None or row["status"] != FINAL[d.outcome] or row["endings"] < endings \
                or row["confirmations"] < confirmations or (ends and not (row["suppressed"]
                                                                          and row["nstatus"] == "undelivered")):
            lost.append(d.notification_id)
        elif row["endings"] > endings or row["confirmations"] > 1:
            twice.append(d.notification_id)
    recorded = sum(r["recorded"] for r in rows)
    return {"deliveries": len(plan_.deliveries), "events_recorded": recorded,
            "events_expected": plan_.distinct_acting, "lost": len(lost), "applied_twice": len(twice),
            "examples": (lost + twice)[:5],
            "by_outcome": dict(Counter(d.outcome for d in plan_.deliveries)),
            "exactly_once": not lost and not twice and recorded == plan_.distinct_acting}


async def measure(stack: Stack, rate: float, seconds: float, send_rate: float,
                  own_api: bool = True, feedback_nice: int = FEEDBACK_NICE) -> dict[str, Any]:
    """`rate` feedback events/s for `seconds` next to `send_rate` sends/s, the sends accepted with no worker
    running, then drained. `own_api`: the callbacks go to an API process of their own, `feedback_nice` below the
    accepting one, as a deployment that routes `/v1/feedback` apart; otherwise to the accepting API."""
    if own_api:
        await stack.start_feedback_api(feedback_nice, {"HERALD_FEEDBACK_CONCURRENCY": str(FEEDBACK_TURNS)})
    try:
        result = await _measure(stack, rate, seconds, send_rate, stack.feedback_api_url or stack.api_url)
    finally:
        stack.stop_feedback_api()
    result["feedback_nice"] = feedback_nice if own_api else 0
    result["feedback_turns"] = FEEDBACK_TURNS if own_api else int(
        stack.env.get("HERALD_FEEDBACK_CONCURRENCY") or Settings.model_fields["feedback_concurrency"].default)
    return result


async def _measure(stack: Stack, rate: float, seconds: float, send_rate: float, feedback_to: str) -> dict[str, Any]:
    sendgrid_key = ec.generate_private_key(ec.SECP256R1())
    public_url = stack.env.get("HERALD_PUBLIC_URL") or str(Settings.model_fields["public_url"].default)
    started = time.monotonic()
    plan_ = plan(int(rate * seconds), public_url, sendgrid_key, uuid.uuid4().hex[:8])
    await create_integrations(stack, sendgrid_key)
    await seed(stack, plan_.deliveries)
    print(f"  feedback: {len(plan_.deliveries):,} deliveries seeded, {plan_.events:,} events in "
          f"{len(plan_.posts):,} signed requests ({time.monotonic() - started:.1f} s)")
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
        await load.prepare(http)
    # What feedback costs accepting, not what the drain does (the accept target beside the drain is its own part):
    # the workers stop while the sends are accepted and start again to deliver them.
    workers = len(stack.workers)
    stack.stop_workers()
    # At the measured rate, so the API's pool holds the connections it needs before anything is timed.
    warm = await send_load(stack, send_rate, 3, "feedback: warm-up", quiet=True)
    cpu0 = stack.cpu_seconds()
    alone = await send_load(stack, send_rate, seconds, f"feedback: sends at {send_rate:.0f}/s alone")
    cpu1 = stack.cpu_seconds()
    async with aiohttp.ClientSession(feedback_to, timeout=aiohttp.ClientTimeout(total=60),
                                     connector=aiohttp.TCPConnector(limit=64)) as session:
        load0, steal0, wall0 = os.getloadavg()[0], psutil.cpu_times().steal, time.monotonic()
        progress = Progress(f"feedback at {rate:.0f} events/s", plan_.events)
        sends = asyncio.create_task(send_load(stack, send_rate, seconds, "sends beside it", quiet=True))
        answered = await post_all(session, plan_.posts, rate, progress)
        during = await sends
        cpu2 = stack.cpu_seconds()
        load1 = os.getloadavg()[0]
        steal = 100 * (psutil.cpu_times().steal - steal0) / max((time.monotonic() - wall0) * (psutil.cpu_count()
                                                                                              or 1), 1e-9)
        progress.close(f"{len(answered.failed)} failed")
        retried = await retry_failed(session, answered)
    for _ in range(workers):
        stack.start_worker()
    pool = await db_pool(stack)
    try:
        backlog = warm.ids + alone.ids + during.ids
        await load.wait_final(pool, backlog, Progress("feedback: sends drain", len(backlog)), check=stack.check_alive)
    finally:
        await pool.close()
    span = max(answered.last_at - answered.started, 1e-9)
    sends_p99 = {"alone": load.percentile(alone.latencies_ms, 99), "feedback": load.percentile(during.latencies_ms, 99)}
    return {
        "rate_per_s": rate, "seconds": seconds, "send_rate_per_s": send_rate, "batch": BATCH,
        "feedback_api": "own" if feedback_to != stack.api_url else "shared",
        "events": plan_.events, "repeats": plan_.repeats, "out_of_order": plan_.out_of_order,
        "requests": dict(Counter(p.vendor for p in plan_.posts)),
        "events_per_s": round(answered.events_done / span, 1),
        "feedback_p50_ms": round(load.percentile(answered.latencies_ms, 50), 1),
        "feedback_p99_ms": round(load.percentile(answered.latencies_ms, 99), 1),
        "accept_p99_ms_alone": round(sends_p99["alone"], 1),
        "accept_p99_ms_feedback": round(sends_p99["feedback"], 1),
        "accept_target_ms": TARGET_P99_MS,
        "sends_refused": {"alone": alone.rejected, "feedback": during.rejected},
        # What the feedback itself cost each process: the phase's CPU less that of the same sends alone.
        "cpu_ms_per_event": {k: round(1000 * ((cpu2[k] - cpu1[k]) - (cpu1[k] - cpu0[k])) / plan_.events, 3)
                             for k in ("api", "postgres", "workers", "temporal")},
        "answered": dict(answered.counts), "failed_then_retried": retried,
        "first_failure": answered.first_failure,
        "load_avg_1m": [round(load0, 2), round(load1, 2)], "steal_pct": round(steal, 1),
        "check": await check(stack, plan_),
    }


async def retry_failed(session: aiohttp.ClientSession, answered: Answered, rounds: int = 5) -> int:
    """Posts the failed requests again, as a vendor retries what was not answered 2xx; how many there were."""
    failed, answered.failed = answered.failed, []
    total = len(failed)
    for _ in range(rounds):
        if not failed:
            break
        again = await post_all(session, [Post(p.vendor, p.events, p.body, p.headers, p.events) for p in failed],
                               1e9, Progress("feedback: retries", sum(p.events for p in failed)))
        answered.counts.update(again.counts)
        failed = again.failed
    if failed:
        raise RuntimeError(f"{len(failed)} feedback requests still fail: {again.first_failure}")
    return total


def table_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    c = r["check"]
    verdict = "ok" if r["accept_p99_ms_feedback"] < r["accept_target_ms"] else f"OVER {r['accept_target_ms']:.0f} ms"
    return [
        (f"feedback: {r['events']:,} events at {r['rate_per_s']:.0f}/s"
         + (f", to an API process of its own (nice {r.get('feedback_nice', 0)}, {r.get('feedback_turns')} turns)"
            if r.get("feedback_api") == "own"
            else ", to the accepting API") + ", sustained",
         f"{r['events_per_s']} events/s (load avg {r['load_avg_1m'][0]} -> {r['load_avg_1m'][1]}, "
         f"steal {r['steal_pct']}%)"),
        ("  feedback request p50 / p99", f"{r['feedback_p50_ms']} / {r['feedback_p99_ms']} ms"),
        ("  CPU ms per event", ", ".join(f"{k} {v}" for k, v in r["cpu_ms_per_event"].items())),
        (f"  accept p99 at {r['send_rate_per_s']:.0f}/s (no drain) alone / with feedback",
         f"{r['accept_p99_ms_alone']} / {r['accept_p99_ms_feedback']} ms ({verdict})"),
        ("  exactly once: lost, applied twice, recorded/expected",
         f"{c['lost']}, {c['applied_twice']}, {c['events_recorded']}/{c['events_expected']} "
         f"({r['repeats']} repeats, {r['out_of_order']} out of order)"),
    ]
