"""The Apprise adapter with real Apprise URLs aimed at a loopback HTTP receiver."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from pydantic import ValidationError

from providers import apprise as apprise_provider
from providers.base import PermanentDeliveryError, Provider, TransientDeliveryError
from providers.egress import Allowlist
from providers.vendor_http import PUBLIC_ONLY
from tests.conftest import free_port
from tests.receivers import HttpReceiver, Reply
from tests.vendors.loopback import LOOPBACK, message


def provider(deadline_s: float = 10.0, allow: Allowlist = LOOPBACK, **config: str) -> Provider:
    settings = apprise_provider.Config.model_validate(config)
    return apprise_provider.AppriseProvider("apprise", settings, deadline_s=deadline_s, allow=allow)


def path() -> str:
    return f"/apprise/{uuid.uuid4().hex}"


async def test_the_address_is_the_apprise_url(http_receiver: HttpReceiver) -> None:
    where = path()
    sent = message(f"json://127.0.0.1:{http_receiver.port}{where}", subject="Deploy done", body="v2 is live",
                   channel="chat")
    async with httpx.AsyncClient() as client:
        built = apprise_provider.build("apprise", apprise_provider.Config(), client, deadline_s=10, allow=LOOPBACK)
        receipt = await built.send(sent)
    [call] = http_receiver.for_key(where)
    assert call.body["title"] == "Deploy done" and call.body["message"] == "v2 is live"
    assert call.headers["content-type"].startswith("application/json")
    assert receipt.provider == "apprise" and receipt.provider_message_id == sent.delivery_key


async def test_config_urls_take_every_message_whatever_the_address(http_receiver: HttpReceiver) -> None:
    first, second = path(), path()
    urls = f"json://127.0.0.1:{http_receiver.port}{first}, json://127.0.0.1:{http_receiver.port}{second}"
    await provider(urls=urls).send(message("ignored", body="to both", channel="push"))
    assert [c.body["message"] for c in http_receiver.for_key(first) + http_receiver.for_key(second)] == ["to both"] * 2


@pytest.mark.parametrize("status", [500, 503, 429, 400])
async def test_a_service_that_fails_is_transient(http_receiver: HttpReceiver, status: int) -> None:
    where = path()
    http_receiver.script[where].append(Reply(status))
    with pytest.raises(TransientDeliveryError, match="apprise"):
        await provider().send(message(f"json://127.0.0.1:{http_receiver.port}{where}"))
    assert len(http_receiver.for_key(where)) == 1


async def test_a_service_that_cannot_be_reached_is_transient() -> None:
    with pytest.raises(TransientDeliveryError, match="Connection error"):
        await provider().send(message(f"json://127.0.0.1:{free_port()}/down"))


async def test_notify_runs_off_the_event_loop(http_receiver: HttpReceiver) -> None:
    where = path()
    http_receiver.script[where].append(Reply(200, delay_s=1.0))
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    ticker = asyncio.create_task(tick())
    try:
        start = time.monotonic()
        await provider().send(message(f"json://127.0.0.1:{http_receiver.port}{where}"))
    finally:
        ticker.cancel()
    assert len([t for t in ticks if t > start]) >= 10


@pytest.mark.parametrize("address", ["not a url", "nosuchservice://token", "", "json://"])
async def test_an_address_apprise_cannot_parse_is_permanent(address: str) -> None:
    with pytest.raises(PermanentDeliveryError, match="not an Apprise URL"):
        await provider().send(message(address))


async def test_a_private_host_passes_the_egress_check(http_receiver: HttpReceiver) -> None:
    where = path()
    with pytest.raises(PermanentDeliveryError, match="not a public address"):
        await provider(allow=PUBLIC_ONLY).send(
            message(f"json://127.0.0.1:{http_receiver.port}{where}"))
    assert http_receiver.for_key(where) == []


async def test_a_host_that_is_no_network_name_is_not_refused() -> None:
    # Where a service puts a token in the host's place, the egress rule has nothing to resolve: the send goes
    # ahead (and here fails, as the name leads nowhere).
    with pytest.raises(TransientDeliveryError):
        await provider(deadline_s=2).send(message("json://no-such-host.invalid/hook"))


@pytest.mark.parametrize(("config", "field"), [
    ({"urls": "nosuchservice://token"}, "urls"),
    ({"urls": "json://127.0.0.1/a, bogus://x"}, "urls"),
    ({"urls": ""}, "urls"),
    ({"url": "json://127.0.0.1/"}, "url"),
])
def test_config_names_the_invalid_field(config: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        apprise_provider.Config.model_validate(config)
    assert field in str(caught.value)
    assert "token" not in str(caught.value) and "127.0.0.1" not in str(caught.value)  # URLs hold secrets
    assert apprise_provider.SECRETS == ("urls",)
