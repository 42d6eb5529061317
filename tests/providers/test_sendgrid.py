"""SendGrid: the adapter against a strict loopback double of the v3 Mail Send API."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from providers import sendgrid
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, TransientDeliveryError
from tests.conftest import free_port
from tests.vendors.loopback import LOOPBACK, Reply
from tests.vendors.sendgrid import API_KEY, VERIFIED_SENDER, SendGridDouble


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[SendGridDouble]:
    server = SendGridDouble()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False) as c:
        yield c


def config(base_url: str, **overrides: Any) -> sendgrid.Config:
    return sendgrid.Config.model_validate({"api_key": API_KEY, "from": f"Herald Alerts <{VERIFIED_SENDER}>",
                                           "base_url": base_url, **overrides})


def provider(double: SendGridDouble, client: httpx.AsyncClient, **overrides: Any) -> Provider:
    return sendgrid.build("sendgrid", config(double.base, **overrides), client, deadline_s=5,
                          allow=LOOPBACK)


def message(address: str | None = None, html: str | None = "<p>Your order shipped.</p>") -> OutgoingMessage:
    return OutgoingMessage(notification_id=str(uuid.uuid4()), channel="email",
                           address=address or f"{uuid.uuid4().hex[:8]}@example.com", subject="Shipped",
                           body="Your order shipped.", user_id=None, attempt=1, html=html)


async def test_a_send_carries_text_html_sender_and_the_delivery_key(double: SendGridDouble,
                                                                    client: httpx.AsyncClient) -> None:
    sent = message()
    receipt = await provider(double, client).send(sent)
    [accepted] = [a for a in double.accepted if a["body"]["personalizations"][0]["to"][0]["email"] == sent.address]
    body = accepted["body"]
    assert receipt.provider == "sendgrid" and receipt.provider_message_id == accepted["message_id"]
    assert body["from"] == {"email": VERIFIED_SENDER, "name": "Herald Alerts"}
    assert body["subject"] == "Shipped"
    assert body["content"] == [{"type": "text/plain", "value": "Your order shipped."},
                               {"type": "text/html", "value": "<p>Your order shipped.</p>"}]
    assert body["custom_args"]["herald_delivery_key"] == sent.delivery_key
    assert body["headers"]["X-Herald-Delivery-Key"] == sent.delivery_key


async def test_without_html_only_the_text_part_is_sent(double: SendGridDouble, client: httpx.AsyncClient) -> None:
    sent = message(html=None)
    await provider(double, client).send(sent)
    [accepted] = [a for a in double.accepted if a["body"]["personalizations"][0]["to"][0]["email"] == sent.address]
    assert accepted["body"]["content"] == [{"type": "text/plain", "value": "Your order shipped."}]


async def test_429_is_transient_until_the_rate_limit_resets(double: SendGridDouble,
                                                            client: httpx.AsyncClient) -> None:
    sent = message()
    reset = int(time.time()) + 40
    double.script[sent.address].append(Reply(429, {"errors": [{"field": None, "message": "too many requests"}]},
                                                {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
                                                 "X-RateLimit-Reset": str(reset)}))
    with pytest.raises(TransientDeliveryError, match="too many requests") as caught:
        await provider(double, client).send(sent)
    assert caught.value.retry_after_s is not None and 30 <= caught.value.retry_after_s <= 40


async def test_a_server_error_is_transient(double: SendGridDouble, client: httpx.AsyncClient) -> None:
    sent = message()
    double.script[sent.address].append(
        Reply(500, {"errors": [{"field": None, "message": "An internal server error occurred."}]}))
    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        await provider(double, client).send(sent)


async def test_a_bad_address_is_permanent(double: SendGridDouble, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 400 .*personalizations\.0\.to\.0\.email"):
        await provider(double, client).send(message(address="not-an-address"))


async def test_a_wrong_key_is_permanent(double: SendGridDouble, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 401 .*authorization grant is invalid") as caught:
        await provider(double, client, api_key="SG.revoked").send(message())
    assert "SG.revoked" not in caught.value.message


async def test_an_unverified_sender_is_permanent(double: SendGridDouble, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 403 .*verified Sender Identity"):
        await provider(double, client, **{"from": "someone@elsewhere.example"}).send(message())


async def test_an_answer_later_than_the_deadline_is_transient(double: SendGridDouble,
                                                             client: httpx.AsyncClient) -> None:
    sent = message()
    # The deadline is far below the delay: however slow the machine, the answer comes too late.
    double.script[sent.address].append(Reply(202, delay_s=3))
    late = sendgrid.build("sendgrid", config(double.base), client, deadline_s=0.5, allow=LOOPBACK)
    with pytest.raises(TransientDeliveryError, match=r"no complete answer within 0\.5 s"):
        await late.send(sent)


async def test_a_vendor_that_cannot_be_reached_is_transient(client: httpx.AsyncClient) -> None:
    closed = sendgrid.build("sendgrid", config(f"http://127.0.0.1:{free_port()}"), client, deadline_s=2,
                            allow=LOOPBACK)
    with pytest.raises(TransientDeliveryError, match="sendgrid"):
        await closed.send(message())


async def test_a_base_url_on_a_private_host_needs_the_egress_allowlist(double: SendGridDouble,
                                                                       client: httpx.AsyncClient) -> None:
    strict = sendgrid.build("sendgrid", config(double.base), client, deadline_s=5)
    with pytest.raises(PermanentDeliveryError, match="not a public address"):
        await strict.send(message())


def test_the_config_names_what_is_missing_or_invalid() -> None:
    with pytest.raises(ValidationError) as missing:
        sendgrid.Config.model_validate({"api_key": API_KEY})
    assert [e["loc"] for e in missing.value.errors()] == [("from",)]
    with pytest.raises(ValidationError) as invalid:
        sendgrid.Config.model_validate({"api_key": API_KEY, "from": "nobody", "base_url": "ftp://x", "region": "eu"})
    assert {e["loc"] for e in invalid.value.errors()} == {("from",), ("base_url",), ("region",)}
    defaults = sendgrid.Config.model_validate({"api_key": API_KEY, "from": VERIFIED_SENDER})
    assert defaults.base_url == "https://api.sendgrid.com" and sendgrid.SECRETS == ("api_key",)
    assert sendgrid.CHANNELS == ("email",)


@pytest.mark.parametrize("sender", ["a@herald.example, b@herald.example", "a@herald.example\r\nBcc: b@x.example",
                                    "nobody", ""])
def test_from_is_one_address_on_one_line(sender: str) -> None:
    with pytest.raises(ValidationError) as caught:
        sendgrid.Config.model_validate({"api_key": API_KEY, "from": sender})
    assert [e["loc"] for e in caught.value.errors()] == [("from",)]
