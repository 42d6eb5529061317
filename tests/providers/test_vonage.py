"""The Vonage adapter against a strict double of the SMS API on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from providers import vonage
from providers.base import PermanentDeliveryError, Provider, TransientDeliveryError
from tests.vendors.loopback import LOOPBACK, Reply, message, phone_number
from tests.vendors.vonage import Vonage, refused

KEY = "a1b2c3d4"
SECRET = "secret-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[Vonage]:
    server = Vonage({KEY: SECRET})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def provider(double: Vonage, client: httpx.AsyncClient, **config: str) -> Provider:
    settings = vonage.Config.model_validate({"api_key": KEY, "api_secret": SECRET, "from": "Herald",
                                             "base_url": double.base, **config})
    return vonage.build("vonage", settings, client, deadline_s=10, allow=LOOPBACK)


async def test_one_message_with_the_number_in_e164_and_the_delivery_key_as_client_ref(
        double: Vonage, client: httpx.AsyncClient) -> None:
    number = phone_number()
    sent = message(number, body="Your code is 123456")
    receipt = await provider(double, client).send(sent)
    [request] = double.to(number[1:], "to")
    assert request.path == "/sms/json"
    assert request.fields == {"api_key": KEY, "api_secret": SECRET, "from": "Herald", "to": number[1:],
                              "text": "Your code is 123456", "client-ref": sent.delivery_key}
    assert receipt.provider == "vonage" and receipt.provider_message_id == double.ids[number[1:]][0]


async def test_text_outside_the_gsm_alphabet_goes_as_unicode(double: Vonage, client: httpx.AsyncClient) -> None:
    plain, emoji = phone_number(), phone_number()
    await provider(double, client).send(message(plain, body="Grüße, {Ana} - ok? 5€"))
    await provider(double, client).send(message(emoji, body="Your parcel is here 📦"))
    assert "type" not in double.to(plain[1:], "to")[0].fields
    assert double.to(emoji[1:], "to")[0].fields["type"] == "unicode"


@pytest.mark.parametrize(("status", "text"), [("1", "Throttled"), ("5", "Internal Error"),
                                              ("9", "Partner Quota Violation")])
async def test_throttled_and_internal_statuses_in_a_200_are_transient(double: Vonage, client: httpx.AsyncClient,
                                                                      status: str, text: str) -> None:
    number = phone_number()
    double.script[number[1:]].append(refused(status, text, number[1:]))
    with pytest.raises(TransientDeliveryError, match=f"status {status}"):
        await provider(double, client).send(message(number))


@pytest.mark.parametrize(("status", "text"), [("6", "Invalid Message"), ("7", "Number Barred"),
                                              ("15", "Illegal Sender Address - rejected")])
async def test_unroutable_barred_and_bad_sender_statuses_are_permanent(double: Vonage, client: httpx.AsyncClient,
                                                                       status: str, text: str) -> None:
    number = phone_number()
    double.script[number[1:]].append(refused(status, text, number[1:]))
    with pytest.raises(PermanentDeliveryError, match=f"status {status}"):
        await provider(double, client).send(message(number))


async def test_bad_credentials_are_permanent(double: Vonage, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="status 4: Bad Credentials"):
        await provider(double, client, api_secret="wrong").send(message(phone_number()))


@pytest.mark.parametrize("reply", [Reply(429, "Too Many Requests", {"Retry-After": "3"}), Reply(502, "Bad Gateway")])
async def test_http_overload_is_transient(double: Vonage, client: httpx.AsyncClient, reply: Reply) -> None:
    number = phone_number()
    double.script[number[1:]].append(reply)
    with pytest.raises(TransientDeliveryError) as caught:
        await provider(double, client).send(message(number))
    assert caught.value.retry_after_s == (3.0 if reply.status == 429 else None)


async def test_a_number_that_is_not_one_is_permanent_and_never_sent(double: Vonage,
                                                                    client: httpx.AsyncClient) -> None:
    before = len(double.received)
    with pytest.raises(PermanentDeliveryError, match="phone number"):
        await provider(double, client).send(message("+1 555"))
    assert len(double.received) == before


@pytest.mark.parametrize(("config", "field"), [({"api_secret": "s", "from": "Herald"}, "api_key"),
                                               ({"api_key": "k", "from": "Herald"}, "api_secret"),
                                               ({"api_key": "k", "api_secret": "s"}, "from"),
                                               ({"api_key": "k", "api_secret": "s", "from": "H", "to": "1"}, "to")])
def test_config_names_the_missing_or_invalid_field(config: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        vonage.Config.model_validate(config)
    assert field in str(caught.value)
    assert vonage.SECRETS == ("api_secret",) and vonage.CHANNELS == ("sms",)
