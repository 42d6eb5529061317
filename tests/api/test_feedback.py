"""Delivery feedback end to end on the real stack: a vendor's callback, signed as the vendor signs it, posted to
`POST /v1/feedback/{integration_id}`, verified, then applied to the delivery a real send made.

The integrations that hold each vendor's secrets are looked up through `app.state.feedback_sources`; this test
serves the API with a lookup of its own (a Mailgun and a Twilio integration) next to the stack's worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
import uvicorn

from api.app import create_app
from core.settings import Settings
from services.feedback import FeedbackSource, feedback_url
from tests.api.conftest import Api, eventually, uid
from tests.api.test_status_webhooks import Hook
from tests.conftest import Stack, free_port
from tests.providers.test_feedback_twilio import sign as twilio_sign

MAILGUN_KEY = "key-" + "3" * 32
TWILIO_TOKEN = "tw-auth-token-" + "9" * 18
SOURCES = {
    "mailgun-main": FeedbackSource("mailgun-main", "mailgun", {"webhook_signing_key": MAILGUN_KEY}),
    "twilio-main": FeedbackSource("twilio-main", "twilio", {"auth_token": TWILIO_TOKEN}),
}


async def lookup(integration_id: str) -> FeedbackSource | None:
    return SOURCES.get(integration_id)


@pytest.fixture(scope="module")
async def feedback_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The API, as the stack serves it, with the lookup above: vendors post here (no Herald key)."""
    async with serving_with_lookup(stack.settings) as http:
        yield http


@asynccontextmanager
async def serving_with_lookup(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An API with `settings` and the lookup above, served on a port of its own."""
    port = free_port()
    app = create_app(settings)
    app.state.feedback_sources = lookup
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serve = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        yield http
    server.should_exit = True
    await serve


def mailgun_body(message_id: str, event: str, *, event_id: str, recipient: str, key: str = MAILGUN_KEY,
                 status: dict[str, Any] | None = None, **extra: Any) -> bytes:
    """Signed as Mailgun signs (HMAC-SHA256 of timestamp + token), shaped as its documented webhook samples."""
    timestamp, token = str(int(time.time())), uid("token")
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    data = {"id": event_id, "timestamp": time.time(), "event": event, "recipient": recipient,
            "message": {"headers": {"message-id": message_id.strip("<>")}}, **extra}
    if status is not None:
        data["delivery-status"] = status
    return json.dumps({"signature": {"timestamp": timestamp, "token": token, "signature": signature},
                       "event-data": data}).encode()


def hard_bounce(message_id: str, recipient: str, event_id: str) -> bytes:
    return mailgun_body(message_id, "failed", event_id=event_id, recipient=recipient, severity="permanent",
                        reason="bounce", status={"code": 550, "description": "No such mailbox"})


async def sent_email(api: Api) -> tuple[str, str, str]:
    """A real send through SMTP: (notification id, address, the provider's message id)."""
    address = f"{uid('fb')}@example.com"
    tpl = await api.template()
    sent = await api.send(tpl, to={"email": address}, channels=["email"])
    done = await api.until_status(sent["id"], "delivered")
    message_id = done["deliveries"][0]["provider_message_id"]
    assert message_id
    return sent["id"], address, message_id


async def post_mailgun(http: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await http.post("/v1/feedback/mailgun-main", content=body, headers={"Content-Type": "application/json"})


async def suppressions_of(api: Api, channel: str, address: str) -> list[dict[str, Any]]:
    r = await api.http.get("/v1/suppressions", params={"channel": channel, "address": address}, headers=api.h)
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_hard_bounce_ends_the_delivery_suppresses_the_address_and_the_next_send_is_skipped(
        api: Api, stack: Stack, feedback_api: httpx.AsyncClient) -> None:
    hook = Hook(api, stack.http_receiver, ["bounced", "undelivered"])
    await hook.register()
    nid, address, message_id = await sent_email(api)

    r = await post_mailgun(feedback_api, hard_bounce(message_id, address, uid("evt")))
    assert r.status_code == 200, r.text
    assert r.json() == {"applied": 1, "duplicate": 0, "unknown": 0, "ignored": 0}

    n = await api.get(nid)
    assert n["status"] == "undelivered"
    [delivery] = n["deliveries"]
    assert (delivery["status"], delivery["last_error"]) == ("bounced", "No such mailbox")
    events = {e["event"]: e["detail"] for e in n["timeline"]}
    assert "No such mailbox" in events["bounced"] and "No such mailbox" in events["undelivered"]
    [suppression] = await suppressions_of(api, "email", address)
    assert (suppression["source"], suppression["reason"]) == ("feedback", "bounced: No such mailbox")
    await hook.until_types(nid, ["bounced", "undelivered"])

    tpl = await api.template()
    again = await api.send(tpl, to={"email": address.upper()}, channels=["email"], priority="otp")
    skipped = await api.until_status(again["id"], "skipped")
    assert skipped["timeline"][-1]["detail"].startswith("suppressed:")
    assert len(stack.smtp.to(address)) == 1  # the first send only
    await hook.delete()


async def test_a_wrong_signature_changes_nothing(api: Api, feedback_api: httpx.AsyncClient) -> None:
    nid, address, message_id = await sent_email(api)
    forged = mailgun_body(message_id, "failed", event_id=uid("evt"), recipient=address, key="key-not-the-one",
                          severity="permanent", reason="bounce")
    r = await post_mailgun(feedback_api, forged)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    unsigned = json.loads(hard_bounce(message_id, address, uid("evt")))
    del unsigned["signature"]
    assert (await post_mailgun(feedback_api, json.dumps(unsigned).encode())).status_code == 401
    n = await api.get(nid)
    assert n["status"] == "delivered" and n["deliveries"][0]["status"] == "delivered"
    assert await suppressions_of(api, "email", address) == []
    assert (await feedback_api.post("/v1/feedback/nobody", content=b"{}")).status_code == 404


async def test_a_repeated_event_applies_once_and_a_late_delivered_never_overrides_a_bounce(
        api: Api, feedback_api: httpx.AsyncClient) -> None:
    nid, address, message_id = await sent_email(api)
    bounce = hard_bounce(message_id, address, "evt-" + uid("b"))
    first = await post_mailgun(feedback_api, bounce)
    repeat = await post_mailgun(feedback_api, bounce)
    assert first.json()["applied"] == 1 and repeat.json() == {"applied": 0, "duplicate": 1, "unknown": 0,
                                                              "ignored": 0}
    late = mailgun_body(message_id, "delivered", event_id=uid("evt"), recipient=address)
    assert (await post_mailgun(feedback_api, late)).json()["applied"] == 1
    n = await api.get(nid)
    assert n["status"] == "undelivered"
    assert n["deliveries"][0]["status"] == "bounced" and n["deliveries"][0]["confirmed_at"] is None
    assert [e["event"] for e in n["timeline"]].count("bounced") == 1
    assert "confirmed" not in [e["event"] for e in n["timeline"]]


async def test_delivered_confirms_and_a_soft_bounce_only_notes(api: Api, feedback_api: httpx.AsyncClient) -> None:
    nid, address, message_id = await sent_email(api)
    soft = mailgun_body(message_id, "failed", event_id=uid("evt"), recipient=address, severity="temporary",
                        reason="generic", status={"code": 452, "message": "mailbox full"})
    assert (await post_mailgun(feedback_api, soft)).json()["applied"] == 1
    delivered = mailgun_body(message_id, "delivered", event_id=uid("evt"), recipient=address)
    assert (await post_mailgun(feedback_api, delivered)).json()["applied"] == 1
    n = await api.get(nid)
    assert n["status"] == "delivered" and n["deliveries"][0]["status"] == "delivered"
    assert n["deliveries"][0]["confirmed_at"] is not None
    events = [e["event"] for e in n["timeline"]]
    assert "soft_bounce" in events and "confirmed" in events
    assert await suppressions_of(api, "email", address) == []


async def test_unknown_message_ids_and_other_events_change_nothing(api: Api, feedback_api: httpx.AsyncClient) -> None:
    r = await post_mailgun(feedback_api, hard_bounce("<nobody@mailgun.test>", "x@example.com", uid("evt")))
    assert r.status_code == 200 and r.json()["unknown"] == 1
    assert await suppressions_of(api, "email", "x@example.com") == []
    nid, address, message_id = await sent_email(api)
    opened = mailgun_body(message_id, "opened", event_id=uid("evt"), recipient=address)
    assert (await post_mailgun(feedback_api, opened)).json()["ignored"] == 1
    assert (await api.get(nid))["deliveries"][0]["confirmed_at"] is None


async def test_a_twilio_callback_signed_over_the_public_url(api: Api, stack: Stack,
                                                            feedback_api: httpx.AsyncClient) -> None:
    phone = "+1415555" + str(int(uid("n")[-6:], 16) % 10000).zfill(4)
    tpl = await api.template()
    sent = await api.send(tpl, to={"sms": phone}, channels=["sms"])
    done = await api.until_status(sent["id"], "delivered")
    sid = done["deliveries"][0]["provider_message_id"]
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30006", "To": phone,
              "From": "+14155550000", "AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01"}
    url = feedback_url(stack.settings.public_url, "twilio-main")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    wrong = await feedback_api.post("/v1/feedback/twilio-main", content=urlencode(params),
                                    headers={**headers, "X-Twilio-Signature": twilio_sign(url, params, token="x")})
    assert wrong.status_code == 401
    r = await feedback_api.post("/v1/feedback/twilio-main", content=urlencode(params),
                                headers={**headers, "X-Twilio-Signature": twilio_sign(url, params, TWILIO_TOKEN)})
    assert r.status_code == 200 and r.json()["applied"] == 1, r.text
    n = await eventually(lambda: _status(api, sent["id"], "undelivered"), what="undelivered")
    assert n["deliveries"][0]["status"] == "undelivered" and "30006" in n["deliveries"][0]["last_error"]
    [suppression] = await suppressions_of(api, "sms", phone)
    assert suppression["source"] == "feedback"
    r = await api.http.delete(f"/v1/suppressions/sms/{quote(phone)}", headers=api.h)
    assert r.status_code == 204


async def _status(api: Api, nid: str, status: str) -> dict[str, Any] | None:
    n = await api.get(nid)
    return n if n["status"] == status else None
