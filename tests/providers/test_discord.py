"""The Discord adapter against a strict double of Execute Webhook on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from providers import discord
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, TransientDeliveryError
from tests.vendors.discord import Discord, rate_limited, refused
from tests.vendors.loopback import LOOPBACK, Reply, message

HOOK = "1180000000000000042"
TOKEN = uuid.uuid4().hex + uuid.uuid4().hex
PATH = f"/api/webhooks/{HOOK}/{TOKEN}"


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[Discord]:
    server = Discord({HOOK: TOKEN})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def provider(double: Discord, client: httpx.AsyncClient, path: str = PATH) -> Provider:
    config = discord.Config(webhook_url=f"https://discord.com{path}", base_url=double.base)
    return discord.build("discord", config, client, deadline_s=10, allow=LOOPBACK)


def chat(body: str = "@everyone the build is green") -> OutgoingMessage:
    return message("ignored", subject="CI", body=body, channel="chat")


async def test_the_webhook_creates_a_message_and_names_it(double: Discord, client: httpx.AsyncClient) -> None:
    receipt = await provider(double, client).send(chat())
    request = double.received[-1]
    assert request.path == PATH and request.headers["content-type"] == "application/json"
    assert request.fields == {"content": "**CI**\n@everyone the build is green",
                              "allowed_mentions": {"parse": ["users"]}}
    assert receipt.provider == "discord" and receipt.provider_message_id == double.ids[-1]


async def test_rate_limited_is_transient_with_the_bodys_retry_after(double: Discord,
                                                                   client: httpx.AsyncClient) -> None:
    double.script[PATH].append(rate_limited(0.75))
    with pytest.raises(TransientDeliveryError, match="429") as caught:
        await provider(double, client).send(chat())
    assert caught.value.retry_after_s == 0.75


async def test_server_errors_are_transient(double: Discord, client: httpx.AsyncClient) -> None:
    double.script[PATH].append(Reply(502, "<html>Bad Gateway</html>"))
    with pytest.raises(TransientDeliveryError, match="502"):
        await provider(double, client).send(chat())


async def test_a_deleted_webhook_or_a_wrong_token_is_permanent(double: Discord, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="10015"):
        await provider(double, client, f"/api/webhooks/1/{TOKEN}").send(chat())
    with pytest.raises(PermanentDeliveryError, match="50027"):
        await provider(double, client, f"/api/webhooks/{HOOK}/wrong").send(chat())


async def test_a_message_discord_will_not_take_is_permanent(double: Discord, client: httpx.AsyncClient) -> None:
    double.script[PATH].append(refused(400, 50035, "Invalid Form Body"))
    with pytest.raises(PermanentDeliveryError, match="50035"):
        await provider(double, client).send(chat())


async def test_over_2000_characters_is_permanent_and_never_sent(double: Discord, client: httpx.AsyncClient) -> None:
    before = len(double.received)
    with pytest.raises(PermanentDeliveryError, match="2000"):
        await provider(double, client).send(chat("x" * 2000))
    assert len(double.received) == before


async def test_the_webhook_url_passes_the_egress_check(double: Discord, client: httpx.AsyncClient) -> None:
    config = discord.Config(webhook_url=f"{double.base}{PATH}")
    before = len(double.received)
    with pytest.raises(PermanentDeliveryError, match="not a public address"):
        await discord.build("discord", config, client, deadline_s=10).send(chat())
    assert len(double.received) == before


@pytest.mark.parametrize(("config", "field"), [({}, "webhook_url"), ({"webhook_url": "discord"}, "webhook_url"),
                                               ({"webhook_url": "https://x", "username": "h"}, "username")])
def test_config_names_the_missing_or_invalid_field(config: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        discord.Config.model_validate(config)
    assert field in str(caught.value)
    assert discord.SECRETS == ("webhook_url",) and discord.CHANNELS == ("chat",)
