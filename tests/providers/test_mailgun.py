"""Mailgun: the adapter against a strict loopback double of the Messages API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from providers import mailgun
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, TransientDeliveryError
from tests.conftest import free_port
from tests.vendors.loopback import LOOPBACK, Reply
from tests.vendors.mailgun import API_KEY, DOMAIN, MailgunDouble

SENDER = f"Herald Alerts <alerts@{DOMAIN}>"


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[MailgunDouble]:
    server = MailgunDouble()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False) as c:
        yield c


def config(base_url: str, **overrides: Any) -> mailgun.Config:
    return mailgun.Config.model_validate({"domain": DOMAIN, "api_key": API_KEY, "from": SENDER,
                                          "base_url": base_url, **overrides})


def provider(double: MailgunDouble, client: httpx.AsyncClient, **overrides: Any) -> Provider:
    return mailgun.build("mailgun", config(double.base, **overrides), client, deadline_s=5, allow=LOOPBACK)


def message(address: str | None = None, html: str | None = "<p>Your order shipped.</p>") -> OutgoingMessage:
    return OutgoingMessage(notification_id=str(uuid.uuid4()), channel="email",
                           address=address or f"{uuid.uuid4().hex[:8]}@example.com", subject="Shipped",
                           body="Your order shipped.", user_id=None, attempt=1, html=html)


def accepted_for(double: MailgunDouble, address: str) -> dict[str, Any]:
    [accepted] = [a for a in double.accepted if a["form"]["to"] == [address]]
    return accepted


async def test_a_send_carries_text_html_sender_and_the_delivery_key(double: MailgunDouble,
                                                                    client: httpx.AsyncClient) -> None:
    sent = message()
    receipt = await provider(double, client).send(sent)
    accepted = accepted_for(double, sent.address)
    form = accepted["form"]
    assert receipt.provider == "mailgun" and receipt.provider_message_id == accepted["message_id"]
    assert accepted["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert form["from"] == [SENDER] and form["subject"] == ["Shipped"]
    assert form["text"] == ["Your order shipped."] and form["html"] == ["<p>Your order shipped.</p>"]
    assert form["h:X-Herald-Delivery-Key"] == [sent.delivery_key]
    assert form["v:herald_delivery_key"] == [sent.delivery_key]


async def test_without_html_only_the_text_part_is_sent(double: MailgunDouble, client: httpx.AsyncClient) -> None:
    sent = message(html=None)
    await provider(double, client).send(sent)
    form = accepted_for(double, sent.address)["form"]
    assert form["text"] == ["Your order shipped."] and "html" not in form


async def test_text_outside_ascii_arrives_intact(double: MailgunDouble, client: httpx.AsyncClient) -> None:
    sent = OutgoingMessage(notification_id=str(uuid.uuid4()), channel="email", address="jörg@example.com",
                           subject="Ihre Bestellung ✓", body="Grüße\r\n--\r\nHerald", user_id=None, attempt=1)
    await provider(double, client).send(sent)
    form = accepted_for(double, sent.address)["form"]
    assert form["subject"] == ["Ihre Bestellung ✓"] and form["text"] == ["Grüße\r\n--\r\nHerald"]


async def test_429_is_transient_with_its_retry_after(double: MailgunDouble, client: httpx.AsyncClient) -> None:
    sent = message()
    double.script[sent.address].append(Reply(429, {"message": "Too many requests"}, {"Retry-After": "12"}))
    with pytest.raises(TransientDeliveryError, match="Too many requests") as caught:
        await provider(double, client).send(sent)
    assert caught.value.retry_after_s == 12


async def test_a_server_error_is_transient(double: MailgunDouble, client: httpx.AsyncClient) -> None:
    sent = message()
    double.script[sent.address].append(Reply(503, "Service Unavailable"))
    with pytest.raises(TransientDeliveryError, match="HTTP 503"):
        await provider(double, client).send(sent)


async def test_a_bad_address_is_permanent(double: MailgunDouble, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 400 .*not a valid address"):
        await provider(double, client).send(message(address="not-an-address"))


async def test_a_failed_request_402_is_permanent(double: MailgunDouble, client: httpx.AsyncClient) -> None:
    sent = message()
    double.script[sent.address].append(Reply(402, {"message": "Domain sending has been disabled"}))
    with pytest.raises(PermanentDeliveryError, match="HTTP 402"):
        await provider(double, client).send(sent)


async def test_a_wrong_key_is_permanent(double: MailgunDouble, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="HTTP 401 'Forbidden'"):
        await provider(double, client, api_key="key-revoked").send(message())


async def test_an_unknown_domain_is_permanent(double: MailgunDouble, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 404 .*Domain not found"):
        await provider(double, client, domain="other.example").send(message())


async def test_a_vendor_that_cannot_be_reached_is_transient(client: httpx.AsyncClient) -> None:
    closed = mailgun.build("mailgun", config(f"http://127.0.0.1:{free_port()}"), client, deadline_s=2,
                           allow=LOOPBACK)
    with pytest.raises(TransientDeliveryError, match="mailgun"):
        await closed.send(message())


async def test_a_base_url_on_a_private_host_needs_the_egress_allowlist(double: MailgunDouble,
                                                                       client: httpx.AsyncClient) -> None:
    strict = mailgun.build("mailgun", config(double.base), client, deadline_s=5)
    with pytest.raises(PermanentDeliveryError, match="not a public address"):
        await strict.send(message())


def test_the_config_names_what_is_missing_or_invalid() -> None:
    with pytest.raises(ValidationError) as missing:
        mailgun.Config.model_validate({"api_key": API_KEY, "from": SENDER})
    assert [e["loc"] for e in missing.value.errors()] == [("domain",)]
    with pytest.raises(ValidationError) as invalid:
        mailgun.Config.model_validate({"domain": "x/../../v4", "api_key": "", "from": SENDER})
    assert {e["loc"] for e in invalid.value.errors()} == {("domain",), ("api_key",)}
    defaults = mailgun.Config.model_validate({"domain": DOMAIN, "api_key": API_KEY, "from": SENDER})
    assert defaults.base_url == "https://api.mailgun.net"
    assert mailgun.SECRETS == ("api_key", "webhook_signing_key") and mailgun.CHANNELS == ("email",)
