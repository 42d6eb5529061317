"""The Microsoft Teams adapter against a strict double of a Workflows webhook and a legacy connector."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from providers import msteams
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, TransientDeliveryError
from tests.vendors.loopback import LOOPBACK, Reply, message
from tests.vendors.msteams import Teams, flow_error

FLOW = uuid.uuid4().hex
SIG = uuid.uuid4().hex
CONNECTOR = f"/webhookb2/{uuid.uuid4()}@{uuid.uuid4()}/IncomingWebhook/{uuid.uuid4().hex}/{uuid.uuid4()}"


def flow_url(flow: str = FLOW, sig: str = SIG) -> str:
    return (f"https://prod-12.westeurope.logic.azure.com:443/workflows/{flow}/triggers/manual/paths/invoke"
            f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}")


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[Teams]:
    server = Teams({FLOW: SIG}, {CONNECTOR})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def provider(double: Teams, client: httpx.AsyncClient, url: str | None = None) -> Provider:
    config = msteams.Config(webhook_url=url or flow_url(), base_url=double.base)
    return msteams.build("msteams", config, client, deadline_s=10, allow=LOOPBACK)


def chat() -> OutgoingMessage:
    return message("ignored", subject="Build failed", body="main is red since 10:04", channel="chat")


async def test_a_workflow_webhook_gets_an_adaptive_card_and_names_its_run(double: Teams,
                                                                         client: httpx.AsyncClient) -> None:
    receipt = await provider(double, client).send(chat())
    request = double.received[-1]
    assert request.path == f"/workflows/{FLOW}/triggers/manual/paths/invoke"
    [attachment] = request.fields["attachments"]
    assert [block["text"] for block in attachment["content"]["body"]] == ["Build failed", "main is red since 10:04"]
    assert receipt.provider == "msteams" and receipt.provider_message_id == double.runs[-1]


async def test_a_wrong_signature_or_a_deleted_flow_is_permanent(double: Teams, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="DirectApiAuthorizationRequired"):
        await provider(double, client, flow_url(sig="forged")).send(chat())
    with pytest.raises(PermanentDeliveryError, match="WorkflowNotFound"):
        await provider(double, client, flow_url(flow="deleted")).send(chat())


@pytest.mark.parametrize("reply", [flow_error(429, "WorkflowRequestsThrottled", "Rate limit", {"Retry-After": "12"}),
                                   flow_error(502, "BadGateway", "Try again"), Reply(504, "")])
async def test_throttled_and_server_errors_are_transient(double: Teams, client: httpx.AsyncClient,
                                                         reply: Reply) -> None:
    double.script[f"/workflows/{FLOW}/triggers/manual/paths/invoke"].append(reply)
    with pytest.raises(TransientDeliveryError) as caught:
        await provider(double, client).send(chat())
    assert caught.value.retry_after_s == (12.0 if reply.status == 429 else None)


async def test_a_legacy_connector_answers_1(double: Teams, client: httpx.AsyncClient) -> None:
    sent = chat()
    receipt = await provider(double, client, f"https://contoso.webhook.office.com{CONNECTOR}").send(sent)
    assert double.received[-1].path == CONNECTOR and receipt.provider_message_id == sent.delivery_key


@pytest.mark.parametrize(("text", "error"), [
    ("Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId "
     "tcid=0,server=msgapi,cv=abc", TransientDeliveryError),
    ("Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 403 with ContextId "
     "tcid=0,server=msgapi,cv=abc", PermanentDeliveryError)])
async def test_a_legacy_failure_in_a_200_is_a_failure(double: Teams, client: httpx.AsyncClient, text: str,
                                                      error: type[Exception]) -> None:
    double.script[CONNECTOR].append(Reply(200, text))
    with pytest.raises(error, match="delivery failed"):
        await provider(double, client, f"https://contoso.webhook.office.com{CONNECTOR}").send(chat())


@pytest.mark.parametrize(("config", "field"), [({}, "webhook_url"), ({"webhook_url": "teams"}, "webhook_url"),
                                               ({"webhook_url": "https://x", "base_url": "x"}, "base_url"),
                                               ({"webhook_url": "https://x", "token": "t"}, "token")])
def test_config_names_the_missing_or_invalid_field(config: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        msteams.Config.model_validate(config)
    assert field in str(caught.value)
    assert msteams.SECRETS == ("webhook_url",) and msteams.CHANNELS == ("chat",)
