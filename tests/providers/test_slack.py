"""The Slack adapter, webhook and bot token alike, against a strict double of Slack on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from providers import slack
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, TransientDeliveryError
from tests.vendors.loopback import LOOPBACK, Reply, message
from tests.vendors.slack import Slack, failed

TOKEN = "xoxb-17-" + uuid.uuid4().hex
HOOK = "/services/T0001/B0001/" + uuid.uuid4().hex[:24]
CHANNEL = "C0123ABCD"


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[Slack]:
    server = Slack({HOOK}, {TOKEN}, {CHANNEL})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def bot(double: Slack, client: httpx.AsyncClient, token: str = TOKEN) -> Provider:
    config = slack.Config(bot_token=token, base_url=double.base)
    return slack.build("slack", config, client, deadline_s=10, allow=LOOPBACK)


def hook(double: Slack, client: httpx.AsyncClient, path: str = HOOK) -> Provider:
    # The webhook as Slack hands it out; base_url sends its path to the double.
    config = slack.Config(webhook_url=f"https://hooks.slack.com{path}", base_url=double.base)
    return slack.build("slack", config, client, deadline_s=10, allow=LOOPBACK)


def chat(address: str = CHANNEL) -> OutgoingMessage:
    return message(address, subject="Deploy finished", body="web-7 is live", channel="chat")


async def test_a_bot_posts_to_the_channel_with_its_token(double: Slack, client: httpx.AsyncClient) -> None:
    receipt = await bot(double, client).send(chat())
    request = double.received[-1]
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.fields == {"channel": CHANNEL, "text": "*Deploy finished*\nweb-7 is live"}
    assert receipt.provider == "slack" and receipt.provider_message_id.startswith(f"{CHANNEL}:17")


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived", "msg_too_long"])
async def test_ok_false_in_a_200_is_permanent_for_a_channel_or_a_message_that_will_not_do(
        double: Slack, client: httpx.AsyncClient, error: str) -> None:
    channel = "C" + uuid.uuid4().hex[:8].upper()
    double.script[channel].append(failed(error))
    with pytest.raises(PermanentDeliveryError, match=error):
        await bot(double, client).send(chat(channel))


async def test_an_unknown_channel_is_permanent(double: Slack, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="channel_not_found"):
        await bot(double, client).send(chat("CNOSUCH"))


async def test_a_revoked_token_is_permanent(double: Slack, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="invalid_auth"):
        await bot(double, client, token="xoxb-revoked").send(chat())


async def test_rate_limited_is_transient_with_its_retry_after(double: Slack, client: httpx.AsyncClient) -> None:
    channel = "C" + uuid.uuid4().hex[:8].upper()
    double.script[channel].append(failed("ratelimited", 429, {"Retry-After": "30"}))
    with pytest.raises(TransientDeliveryError, match="429") as caught:
        await bot(double, client).send(chat(channel))
    assert caught.value.retry_after_s == 30.0


@pytest.mark.parametrize("reply", [failed("internal_error"), failed("service_unavailable"), Reply(503, "")])
async def test_slack_side_failures_are_transient(double: Slack, client: httpx.AsyncClient, reply: Reply) -> None:
    channel = "C" + uuid.uuid4().hex[:8].upper()
    double.script[channel].append(reply)
    with pytest.raises(TransientDeliveryError):
        await bot(double, client).send(chat(channel))


async def test_a_webhook_posts_json_text(double: Slack, client: httpx.AsyncClient) -> None:
    sent = chat("ignored")
    receipt = await hook(double, client).send(sent)
    request = double.received[-1]
    assert request.path == HOOK and request.headers["content-type"] == "application/json"
    assert request.fields == {"text": "*Deploy finished*\nweb-7 is live"}
    assert receipt.provider_message_id == sent.delivery_key


async def test_a_removed_webhook_is_permanent(double: Slack, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="no_service"):
        await hook(double, client, "/services/T0001/B0002/gone").send(chat())


@pytest.mark.parametrize(("reply", "error"), [
    (Reply(429, "rate_limited", {"Retry-After": "2"}), TransientDeliveryError),
    (Reply(500, "rollup_error"), TransientDeliveryError),
    (Reply(410, "channel_is_archived"), PermanentDeliveryError),
    (Reply(403, "action_prohibited"), PermanentDeliveryError)])
async def test_webhook_errors(double: Slack, client: httpx.AsyncClient, reply: Reply,
                              error: type[Exception]) -> None:
    double.script[HOOK].append(reply)
    with pytest.raises(error, match=str(reply.body)):
        await hook(double, client).send(chat())


@pytest.mark.parametrize(("config", "field"), [({}, "webhook_url"),
                                               ({"webhook_url": "https://h", "bot_token": "xoxb-1"}, "bot_token"),
                                               ({"bot_token": "not-a-token"}, "bot_token"),
                                               ({"webhook_url": "hooks.slack.com/services/x"}, "webhook_url"),
                                               ({"bot_token": "xoxb-1", "channel": "C1"}, "channel")])
def test_config_names_the_missing_or_invalid_field(config: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        slack.Config.model_validate(config)
    assert field in str(caught.value)
    assert set(slack.SECRETS) == {"webhook_url", "bot_token"} and slack.CHANNELS == ("chat",)
