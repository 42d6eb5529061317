"""Each purpose has a bounded connection pool of its own: users' webhooks that hold every connection they may
have cannot keep an operator's gateway or a status webhook from sending."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from core.settings import Settings
from providers.base import OutgoingMessage, TransientDeliveryError
from providers.registry import build_providers
from tests.conftest import SECRET
from tests.receivers import HttpReceiver, Reply


def _message(address: str) -> OutgoingMessage:
    return OutgoingMessage(notification_id=f"n-{uuid.uuid4().hex[:8]}", channel="x", address=address,
                           subject="S", body="B", user_id=None, attempt=1)


async def test_webhooks_holding_every_connection_leave_the_gateways_theirs(pool: asyncpg.Pool,
                                                                          http_receiver: HttpReceiver) -> None:
    # 100 connections: the whole of one shared pool. Each hook trickles its answer, so it holds its connection
    # until its deadline.
    hooks = 100
    providers = build_providers(pool, Settings(
        HERALD_WEBHOOK_SECRET=SECRET, HERALD_SMS_WEBHOOK_URL=f"{http_receiver.base}/sms",
        HERALD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1", HERALD_WEBHOOK_TIMEOUT_S=10, HERALD_WEBHOOK_POOL_SIZE=hooks))
    paths = [f"/hook/hostile-{uuid.uuid4().hex[:8]}" for _ in range(hooks)]
    for path in paths:
        http_receiver.script[path] = [Reply(trickle_s=0.5)]
    webhook, sms = providers.chains["webhook"][0], providers.chains["sms"][0]
    try:
        hostile = [asyncio.create_task(webhook.send(_message(f"{http_receiver.base}{path}"))) for path in paths]
        for _ in range(1000):  # until every hook holds its connection: the webhook pool is full
            if all(http_receiver.for_key(p) for p in paths):
                break
            await asyncio.sleep(0.02)
        assert all(http_receiver.for_key(p) for p in paths)
        phone = f"+1555{uuid.uuid4().hex[:6]}"
        receipt = await sms.send(_message(phone))
        assert receipt.provider == "sms-gateway" and len(http_receiver.for_key(phone)) == 1
        # Sent while every hook still held its connection, not in one a hook gave up at its deadline.
        assert not any(task.done() for task in hostile)
        outcomes = await asyncio.gather(*hostile, return_exceptions=True)
    finally:
        await providers.aclose()
    # Every hostile exchange ended at its deadline, none as delivered.
    assert all(isinstance(o, TransientDeliveryError) for o in outcomes), {type(o).__name__ for o in outcomes}


async def test_each_purpose_has_its_own_bounded_pool(pool: asyncpg.Pool, http_receiver: HttpReceiver) -> None:
    providers = build_providers(pool, Settings(
        HERALD_WEBHOOK_SECRET=SECRET, HERALD_SMS_WEBHOOK_URL=f"{http_receiver.base}/sms",
        HERALD_GATEWAY_POOL_SIZE=7, HERALD_WEBHOOK_POOL_SIZE=5, HERALD_STATUS_WEBHOOK_POOL_SIZE=3))
    try:
        clients = [providers.chains["sms"][0]._client, providers.chains["webhook"][0]._client,  # type: ignore[attr-defined]
                   providers.status_http]
        assert len({id(c) for c in clients}) == 3
        sizes = [c._transport._pool._max_connections for c in clients]
    finally:
        await providers.aclose()
    assert sizes == [7, 5, 3]
