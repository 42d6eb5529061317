"""The Twilio adapter against a strict double of the Messages resource on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from providers import twilio
from providers.base import PermanentDeliveryError, Provider, TransientDeliveryError
from tests.vendors.loopback import LOOPBACK, Reply, message, phone_number
from tests.vendors.twilio import Twilio, error

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "auth-token-" + uuid.uuid4().hex
SERVICE = "MG" + "fedcba9876543210" * 2
CALLBACK = "https://herald.example.com/v1/feedback/twilio-main"


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[Twilio]:
    server = Twilio({SID: TOKEN})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def provider(double: Twilio, client: httpx.AsyncClient, deadline_s: float = 10.0, **config: str) -> Provider:
    settings = twilio.Config.model_validate({"account_sid": SID, "auth_token": TOKEN, "from": "+14155550000",
                                             "base_url": double.base, **config})
    return twilio.build("twilio", settings, client, deadline_s=deadline_s, status_callback=CALLBACK, allow=LOOPBACK)


async def test_one_form_encoded_message_with_basic_auth_and_the_status_callback(double: Twilio,
                                                                                client: httpx.AsyncClient) -> None:
    number = phone_number()
    spaced = f"{number[:2]} ({number[2:5]}) {number[5:8]}-{number[8:]}"
    receipt = await provider(double, client).send(message(spaced, body="Your code is 123456"))
    [request] = double.to(number, "To")
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.fields == {"To": number, "From": "+14155550000", "Body": "Your code is 123456",
                              "StatusCallback": CALLBACK}
    assert receipt.provider == "twilio" and receipt.provider_message_id == double.sids[number][0]


async def test_a_messaging_service_instead_of_a_sender(double: Twilio, client: httpx.AsyncClient) -> None:
    number = phone_number()
    settings = twilio.Config.model_validate({"account_sid": SID, "auth_token": TOKEN,
                                             "messaging_service_sid": SERVICE, "base_url": double.base})
    await twilio.build("twilio", settings, client, deadline_s=10, allow=LOOPBACK).send(message(number))
    [request] = double.to(number, "To")
    assert request.fields["MessagingServiceSid"] == SERVICE
    assert "From" not in request.fields and "StatusCallback" not in request.fields


async def test_rate_limited_is_transient_with_the_retry_hint(double: Twilio, client: httpx.AsyncClient) -> None:
    number = phone_number()
    double.script[number].append(error(429, 20429, "Too Many Requests", {"Retry-After": "7"}))
    with pytest.raises(TransientDeliveryError, match="20429") as caught:
        await provider(double, client).send(message(number))
    assert caught.value.retry_after_s == 7.0


@pytest.mark.parametrize("reply", [error(500, 20500, "Internal Server Error"), Reply(503, "Service Unavailable"),
                                   error(400, 14107, "SMS send rate limit exceeded")])
async def test_server_errors_and_send_rate_limits_are_transient(double: Twilio, client: httpx.AsyncClient,
                                                                reply: Reply) -> None:
    number = phone_number()
    double.script[number].append(reply)
    with pytest.raises(TransientDeliveryError):
        await provider(double, client).send(message(number))


@pytest.mark.parametrize(("code", "text"), [(21211, "The 'To' number is not a valid phone number."),
                                            (21610, "Attempt to send to unsubscribed recipient"),
                                            (21614, "'To' number is not a valid mobile number")])
async def test_bad_or_opted_out_numbers_are_permanent(double: Twilio, client: httpx.AsyncClient, code: int,
                                                      text: str) -> None:
    number = phone_number()
    double.script[number].append(error(400, code, text))
    with pytest.raises(PermanentDeliveryError, match=str(code)):
        await provider(double, client).send(message(number))


async def test_a_wrong_auth_token_is_permanent(double: Twilio, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="20003"):
        await provider(double, client, auth_token="wrong").send(message(phone_number()))


async def test_the_vendors_message_is_masked(double: Twilio, client: httpx.AsyncClient) -> None:
    number = phone_number()
    double.script[number].append(error(400, 21211, f"The 'To' number {number} is not a valid phone number."))
    with pytest.raises(PermanentDeliveryError) as caught:
        await provider(double, client).send(message(number))
    assert number not in str(caught.value) and number[-2:] in str(caught.value)


@pytest.mark.parametrize("address", ["+1555", "4155552671", "not a number", "+44 20 7946 095"])
async def test_a_number_that_is_not_one_is_permanent_and_never_sent(double: Twilio, client: httpx.AsyncClient,
                                                                    address: str) -> None:
    before = len(double.received)
    with pytest.raises(PermanentDeliveryError, match="phone number"):
        await provider(double, client).send(message(address))
    assert len(double.received) == before


async def test_no_complete_answer_within_the_deadline_is_transient(double: Twilio, client: httpx.AsyncClient) -> None:
    number = phone_number()
    double.script[number].append(Reply(201, {"sid": "SMlate"}, delay_s=5))
    with pytest.raises(TransientDeliveryError, match="no complete answer"):
        await provider(double, client, deadline_s=0.5).send(message(number))


async def test_base_url_passes_the_egress_check(double: Twilio, client: httpx.AsyncClient) -> None:
    settings = twilio.Config.model_validate({"account_sid": SID, "auth_token": TOKEN, "from": "+14155550000",
                                             "base_url": double.base})
    before = len(double.received)
    with pytest.raises(PermanentDeliveryError, match="not a public address"):
        await twilio.build("twilio", settings, client, deadline_s=10).send(message(phone_number()))
    assert len(double.received) == before


@pytest.mark.parametrize(("config", "field"), [
    ({"auth_token": "t", "from": "+14155550000"}, "account_sid"),
    ({"account_sid": SID, "from": "+14155550000"}, "auth_token"),
    ({"account_sid": "SK123", "auth_token": "t", "from": "+14155550000"}, "account_sid"),
    ({"account_sid": SID, "auth_token": "t"}, "messaging_service_sid"),
    ({"account_sid": SID, "auth_token": "t", "from": "x", "base_url": "ftp://twilio"}, "base_url"),
    ({"account_sid": SID, "auth_token": "t", "from": "x", "api_key": "k"}, "api_key"),
])
def test_config_names_the_missing_or_invalid_field(config: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        twilio.Config.model_validate(config)
    assert field in str(caught.value)
    assert twilio.SECRETS == ("auth_token",) and twilio.CHANNELS == ("sms",)
