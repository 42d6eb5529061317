"""End to end on the real stack (dev server, worker, API; HERALD_DELIVERY_TIMEOUT_S=2): a gateway that trickles
its answer costs one bounded attempt, and its retry never overlaps it, as the receiver's own count of open
requests shows."""

from __future__ import annotations

import asyncio

from store import notifications
from tests.api.conftest import Api, eventually, uid
from tests.conftest import Stack
from tests.receivers import Reply


async def test_a_trickling_gateway_gets_one_attempt_at_a_time_and_the_retry_delivers(stack: Stack,
                                                                                        api: Api) -> None:
    template = await api.template()
    phone = uid("+1555")
    stack.http_receiver.script[phone] = [Reply(trickle_s=0.5)]  # then a healthy answer
    sent = await api.send(template, channels=["sms"], to={"sms": phone})
    done = await api.until_status(sent["id"], "delivered", timeout_s=60)
    assert done["deliveries"][0]["attempts"] == 2
    log = await notifications.attempt_log(stack.pool, sent["id"])
    assert [(a.attempt, a.outcome) for a in log] == [(1, "failed"), (2, "delivered")]
    assert "within" in (log[0].error or "")

    async def first_closed() -> bool:
        await asyncio.sleep(0)
        return stack.http_receiver.open[phone] == 0
    await eventually(first_closed, what="the trickled answer to be hung up on")
    calls = stack.http_receiver.for_key(phone)
    assert len(calls) == 2 and calls[0].headers["webhook-id"] == calls[1].headers["webhook-id"]
    assert stack.http_receiver.max_open[phone] == 1
