"""Postmark: the adapter against a strict loopback double of the Email API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from providers import postmark
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, TransientDeliveryError
from tests.conftest import free_port
from tests.vendors.loopback import LOOPBACK, Reply
from tests.vendors.postmark import CONFIRMED_SENDER, SERVER_TOKEN, PostmarkDouble

SENDER = f"Herald Alerts <{CONFIRMED_SENDER}>"


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[PostmarkDouble]:
    server = PostmarkDouble()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False) as c:
        yield c


def config(base_url: str, **overrides: Any) -> postmark.Config:
    return postmark.Config.model_validate({"server_token": SERVER_TOKEN, "from": SENDER, "base_url": base_url,
                                           **overrides})


def provider(double: PostmarkDouble, client: httpx.AsyncClient, **overrides: Any) -> Provider:
    return postmark.build("postmark", config(double.base, **overrides), client, deadline_s=5, allow=LOOPBACK)


def message(address: str | None = None, html: str | None = "<p>Your order shipped.</p>") -> OutgoingMessage:
    return OutgoingMessage(notification_id=str(uuid.uuid4()), channel="email",
                           address=address or f"{uuid.uuid4().hex[:8]}@example.com", subject="Shipped",
                           body="Your order shipped.", user_id=None, attempt=1, html=html)


def accepted_for(double: PostmarkDouble, address: str) -> dict[str, Any]:
    [accepted] = [a for a in double.accepted if a["body"]["To"] == address]
    return accepted


async def test_a_send_carries_text_html_sender_stream_and_the_delivery_key(double: PostmarkDouble,
                                                                           client: httpx.AsyncClient) -> None:
    sent = message()
    receipt = await provider(double, client, message_stream="notifications").send(sent)
    accepted = accepted_for(double, sent.address)
    body = accepted["body"]
    assert receipt.provider == "postmark" and receipt.provider_message_id == accepted["message_id"]
    assert body["From"] == SENDER and body["Subject"] == "Shipped" and body["MessageStream"] == "notifications"
    assert body["TextBody"] == "Your order shipped." and body["HtmlBody"] == "<p>Your order shipped.</p>"
    assert body["Headers"] == [{"Name": "X-Herald-Delivery-Key", "Value": sent.delivery_key}]
    assert body["Metadata"]["herald_delivery_key"] == sent.delivery_key


async def test_without_html_or_stream_only_the_text_part_goes_to_the_default_stream(
        double: PostmarkDouble, client: httpx.AsyncClient) -> None:
    sent = message(html=None)
    await provider(double, client).send(sent)
    body = accepted_for(double, sent.address)["body"]
    assert body["TextBody"] == "Your order shipped." and "HtmlBody" not in body and "MessageStream" not in body


async def test_429_is_transient_with_its_retry_after(double: PostmarkDouble, client: httpx.AsyncClient) -> None:
    sent = message()
    double.script[sent.address].append(
        Reply(429, {"ErrorCode": 429, "Message": "Rate limit exceeded"}, {"Retry-After": "7"}))
    with pytest.raises(TransientDeliveryError, match="Rate limit exceeded") as caught:
        await provider(double, client).send(sent)
    assert caught.value.retry_after_s == 7


async def test_maintenance_and_server_errors_are_transient(double: PostmarkDouble,
                                                           client: httpx.AsyncClient) -> None:
    sent = message()
    double.script[sent.address] += [Reply(422, {"ErrorCode": 100, "Message": "Maintenance"}),
                                    Reply(500, {"ErrorCode": 0, "Message": "Internal server error"})]
    with pytest.raises(TransientDeliveryError, match="ErrorCode 100"):
        await provider(double, client).send(sent)
    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        await provider(double, client).send(sent)


async def test_a_bad_address_is_permanent(double: PostmarkDouble, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 422 .*ErrorCode 300"):
        await provider(double, client).send(message(address="not-an-address"))


async def test_an_inactive_recipient_is_permanent(double: PostmarkDouble, client: httpx.AsyncClient) -> None:
    sent = message()
    double.script[sent.address].append(Reply(422, {"ErrorCode": 406, "Message": (
        f"You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: "
        f"{sent.address}. Inactive recipients are ones that have generated a hard bounce, a spam complaint, "
        "or a manual suppression.")}))
    with pytest.raises(PermanentDeliveryError, match="ErrorCode 406") as caught:
        await provider(double, client).send(sent)
    # The vendor's words are kept, the address in them masked.
    assert sent.address not in caught.value.message
    assert f"{sent.address[0]}***@example.com" in caught.value.message


async def test_a_wrong_token_is_permanent(double: PostmarkDouble, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 401 .*ErrorCode 10"):
        await provider(double, client, server_token="not-the-token").send(message())


async def test_an_unconfirmed_sender_or_unknown_stream_is_permanent(double: PostmarkDouble,
                                                                    client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="ErrorCode 400"):
        await provider(double, client, **{"from": "someone@elsewhere.example"}).send(message())
    with pytest.raises(PermanentDeliveryError, match="ErrorCode 1235"):
        await provider(double, client, message_stream="nope").send(message())


async def test_a_vendor_that_cannot_be_reached_is_transient(client: httpx.AsyncClient) -> None:
    closed = postmark.build("postmark", config(f"http://127.0.0.1:{free_port()}"), client, deadline_s=2,
                            allow=LOOPBACK)
    with pytest.raises(TransientDeliveryError, match="postmark"):
        await closed.send(message())


async def test_a_base_url_on_a_private_host_needs_the_egress_allowlist(double: PostmarkDouble,
                                                                       client: httpx.AsyncClient) -> None:
    strict = postmark.build("postmark", config(double.base), client, deadline_s=5)
    with pytest.raises(PermanentDeliveryError, match="not a public address"):
        await strict.send(message())


def test_the_config_names_what_is_missing_or_invalid() -> None:
    with pytest.raises(ValidationError) as missing:
        postmark.Config.model_validate({"from": SENDER})
    assert [e["loc"] for e in missing.value.errors()] == [("server_token",)]
    with pytest.raises(ValidationError) as invalid:
        postmark.Config.model_validate({"server_token": SERVER_TOKEN, "from": SENDER, "message_stream": ""})
    assert [e["loc"] for e in invalid.value.errors()] == [("message_stream",)]
    defaults = postmark.Config.model_validate({"server_token": SERVER_TOKEN, "from": SENDER})
    assert defaults.base_url == "https://api.postmarkapp.com" and defaults.message_stream is None
    assert postmark.SECRETS == ("server_token", "webhook_password") and postmark.CHANNELS == ("email",)
