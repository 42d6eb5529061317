"""Load that a client would send (retrying with the same idempotency key until accepted), and the ledger that
checks, after a fault, that every accepted notification ended exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import httpx
from temporalio.client import Client

from chaos.receiver import CountingReceiver
from core.workflow_ids import notification_id_of
from providers.base import OutgoingMessage
from providers.smtp import message_id


class Target(Protocol):
    """What load and ledger need of a stack: the chaos stack, or a `make up` the suite kills."""

    @property
    def api_url(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def db_url(self) -> str: ...
    @property
    def receiver(self) -> CountingReceiver: ...
    @property
    def client(self) -> Client | None: ...


FINAL = ("delivered", "dead_lettered", "canceled", "discarded", "skipped")
TEMPLATE = "chaos"


@dataclass
class Load:
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> notification id
    answers: dict[int, int] = field(default_factory=dict)  # HTTP status -> count, every try included
    client_retries: int = 0


async def ensure_template(stack: Target) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers) as http:
        r = await http.post("/v1/templates", json={"name": TEMPLATE, "subject": "n{{ n }}", "body": "Event {{ n }}"})
        assert r.status_code in (201, 409), r.text


async def send(stack: Target, load: Load, n: int, *, rate: float = 20.0, concurrency: int = 10,
               give_up_s: float = 120.0) -> None:
    """N notifications at about `rate` per second; each retried with its key until the API accepts it."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, http: httpx.AsyncClient) -> None:
        key = f"chaos-{uuid.uuid4().hex}"
        body = {"template": TEMPLATE, "data": {"n": i}, "channels": ["webhook", "email"],
                "to": {"webhook": f"{stack.receiver.base}/hook/{i}", "email": f"user{i}@example.com"}}
        deadline = time.monotonic() + give_up_s
        async with gate:
            while time.monotonic() < deadline:
                try:
                    r = await http.post("/v1/notifications", json=body, headers={"Idempotency-Key": key})
                    load.answers[r.status_code] = load.answers.get(r.status_code, 0) + 1
                    if r.status_code in (200, 202):
                        load.accepted[key] = r.json()["id"]
                        return
                    if r.status_code < 500 and r.status_code != 429:
                        raise AssertionError(f"the API refused a valid request: {r.status_code} {r.text}")
                except httpx.TransportError:
                    load.answers[0] = load.answers.get(0, 0) + 1
                load.client_retries += 1
                await asyncio.sleep(0.5)

    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=30) as http:
        tasks = []
        for i in range(n):
            tasks.append(asyncio.create_task(one(i, http)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)


@dataclass
class Verdict:
    accepted: int
    delivered: int
    dead_lettered: int
    canceled: int
    not_final: int
    missing_at_receiver: int
    unexpected_at_receiver: int
    raw_repeats: int
    open_workflows: int
    reopened: int  # notifications whose timeline went on after `delivered` as if the send were still to do
    seconds_to_settle: float

    @property
    def ok(self) -> bool:
        return (self.not_final == 0 and self.missing_at_receiver == 0 and self.unexpected_at_receiver == 0
                and self.open_workflows == 0 and self.reopened == 0
                and self.accepted == self.delivered + self.dead_lettered + self.canceled)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def receiver_key(notification_id: str, channel: str) -> str:
    if channel in ("webhook", "sms"):  # HTTP: the webhook-id, the delivery's key
        return f"{notification_id}:{channel}"
    message = OutgoingMessage(notification_id=notification_id, channel=channel, address="", subject="", body="",
                              user_id=None, attempt=1)
    return message_id(message, "herald@localhost")


async def _open_workflows(stack: Target, ids: list[str]) -> int:
    """Workflows of this load still running and not parked in the dead-letter queue."""
    wanted = set(ids)
    open_workflows = 0
    assert stack.client is not None
    async for execution in stack.client.list_workflows(
            'WorkflowType = "NotificationWorkflow" AND ExecutionStatus = "Running"'):
        if notification_id_of(execution.id) in wanted:
            parked = execution.search_attributes.get("NotificationStatus") == ["dead_lettered"]
            open_workflows += 0 if parked else 1
    return open_workflows


async def settle(stack: Target, load: Load, timeout_s: float = 300.0) -> Verdict:
    """Waits until every accepted notification is final and every workflow closed or parked, then counts both
    ends. (A workflow can record `delivered` and still run for a while: a worker killed before it reported the
    workflow task leaves the task to time out and run again elsewhere.)"""
    started = time.monotonic()
    ids = list(load.accepted.values())
    conn = await asyncpg.connect(stack.db_url)
    try:
        while True:
            rows = await conn.fetch("SELECT id, status FROM notification WHERE id = ANY($1)", ids)
            statuses = {r["id"]: r["status"] for r in rows}
            pending = [i for i in ids if statuses.get(i) not in FINAL]
            open_workflows = await _open_workflows(stack, ids) if not pending else -1
            if (not pending and open_workflows == 0) or time.monotonic() - started > timeout_s:
                break
            await asyncio.sleep(1)
        delivered_channels = await conn.fetch(
            "SELECT notification_id, channel FROM delivery WHERE notification_id = ANY($1) AND status = 'delivered'",
            ids)
        # A workflow task lost after its local activities ran runs them again; the store must not let that
        # replay move a delivered notification back (store/notifications.py, _STATUS_CHANGE).
        reopened = await conn.fetchval(
            """SELECT count(DISTINCT d.notification_id) FROM notification_event d
               JOIN notification_event later ON later.notification_id = d.notification_id AND later.id > d.id
                    AND later.event IN ('processing', 'retrying', 'dead_lettered')
               WHERE d.event = 'delivered' AND d.notification_id = ANY($1)""", ids)
    finally:
        await conn.close()
    expected = {receiver_key(r["notification_id"], r["channel"]) for r in delivered_channels}
    # Only this load's keys: the receiver may have served earlier scenarios on the same stack.
    ours = {receiver_key(i, channel) for i in ids for channel in ("webhook", "email", "sms")}
    counted = stack.receiver.snapshot()
    seen = set(counted) & ours
    if open_workflows < 0:
        open_workflows = await _open_workflows(stack, ids)
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in FINAL}
    return Verdict(
        accepted=len(ids), delivered=counts["delivered"], dead_lettered=counts["dead_lettered"],
        canceled=counts["canceled"] + counts["discarded"] + counts["skipped"], not_final=len(pending),
        missing_at_receiver=len(expected - seen), unexpected_at_receiver=len(seen - expected),
        raw_repeats=sum(counted[k] for k in seen) - len(seen), open_workflows=open_workflows, reopened=reopened,
        seconds_to_settle=round(time.monotonic() - started, 1))
