"""The Telegram adapter against a strict double of the Bot API's sendMessage on loopback."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from providers import telegram
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, TransientDeliveryError
from tests.conftest import free_port
from tests.vendors.loopback import LOOPBACK, Reply, message
from tests.vendors.telegram import Telegram, refused

TOKEN = "7123456789:" + secrets.token_urlsafe(27)
CHAT = "912345678"


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[Telegram]:
    server = Telegram({TOKEN}, {CHAT, "-1001234567890"})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def provider(double: Telegram, client: httpx.AsyncClient, token: str = TOKEN) -> Provider:
    config = telegram.Config(bot_token=token, base_url=double.base)
    return telegram.build("telegram", config, client, deadline_s=10, allow=LOOPBACK)


def chat(address: str = CHAT, subject: str = "Ship it 🚀", body: str = "v2.3 is out") -> OutgoingMessage:
    return message(address, subject=subject, body=body, channel="chat")


def a_chat() -> str:
    return str(secrets.randbelow(10**9) + 10**9)


async def test_sends_plain_text_with_the_subject_bold_and_names_the_message(double: Telegram,
                                                                           client: httpx.AsyncClient) -> None:
    receipt = await provider(double, client).send(chat())
    request = double.received[-1]
    assert request.path == f"/bot{TOKEN}/sendMessage"
    # The rocket is two UTF-16 code units: the bold entity covers all of the subject and nothing more.
    assert request.fields == {"chat_id": int(CHAT), "text": "Ship it 🚀\nv2.3 is out",
                              "entities": [{"type": "bold", "offset": 0, "length": 10}]}
    assert receipt.provider == "telegram" and receipt.provider_message_id == f"{CHAT}:{double.sent[CHAT][-1]}"


async def test_a_group_chat_id_is_negative(double: Telegram, client: httpx.AsyncClient) -> None:
    receipt = await provider(double, client).send(chat("-1001234567890", subject=""))
    assert double.received[-1].fields == {"chat_id": -1001234567890, "text": "v2.3 is out"}
    assert receipt.provider_message_id.startswith("-1001234567890:")


async def test_rate_limited_is_transient_with_parameters_retry_after(double: Telegram,
                                                                     client: httpx.AsyncClient) -> None:
    address = a_chat()
    double.script[address].append(refused(429, "Too Many Requests: retry after 35", retry_after=35))
    with pytest.raises(TransientDeliveryError, match="Too Many Requests") as caught:
        await provider(double, client).send(chat(address))
    assert caught.value.retry_after_s == 35.0


async def test_server_errors_are_transient(double: Telegram, client: httpx.AsyncClient) -> None:
    address = a_chat()
    double.script[address].append(refused(502, "Bad Gateway"))
    with pytest.raises(TransientDeliveryError, match="502"):
        await provider(double, client).send(chat(address))


@pytest.mark.parametrize("reply", [refused(403, "Forbidden: bot was blocked by the user"),
                                   refused(400, "Bad Request: chat not found"),
                                   refused(400, "Bad Request: group chat was upgraded to a supergroup chat",
                                           migrate_to_chat_id=-1009876543210)])
async def test_a_blocked_bot_an_unknown_chat_or_a_migrated_group_is_permanent(double: Telegram,
                                                                             client: httpx.AsyncClient,
                                                                             reply: Reply) -> None:
    address = a_chat()
    double.script[address].append(reply)
    with pytest.raises(PermanentDeliveryError, match=r"blocked|not found|-1009876543210"):
        await provider(double, client).send(chat(address))


async def test_a_wrong_token_is_permanent(double: Telegram, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="401 Unauthorized"):
        await provider(double, client, "7123456789:" + "x" * 35).send(chat())


async def test_a_vendor_that_cannot_be_reached_is_transient(client: httpx.AsyncClient) -> None:
    config = telegram.Config(bot_token=TOKEN, base_url=f"http://127.0.0.1:{free_port()}")  # nothing listens
    with pytest.raises(TransientDeliveryError, match="ConnectError"):
        await telegram.build("telegram", config, client, deadline_s=10, allow=LOOPBACK).send(chat())


@pytest.mark.parametrize(("address", "body"), [("not a chat", "hi"), ("https://t.me/x", "hi"), (CHAT, "x" * 4090)])
async def test_a_bad_address_or_an_overlong_text_is_permanent_and_never_sent(double: Telegram,
                                                                            client: httpx.AsyncClient, address: str,
                                                                            body: str) -> None:
    before = len(double.received)
    with pytest.raises(PermanentDeliveryError):
        await provider(double, client).send(chat(address, body=body))
    assert len(double.received) == before


@pytest.mark.parametrize(("config", "field"), [({}, "bot_token"), ({"bot_token": "abc"}, "bot_token"),
                                               ({"bot_token": "1:" + "a" * 35, "chat_id": "1"}, "chat_id")])
def test_config_names_the_missing_or_invalid_field(config: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        telegram.Config.model_validate(config)
    assert field in str(caught.value)
    assert telegram.SECRETS == ("bot_token",) and telegram.CHANNELS == ("chat",)
