"""Amazon SES v2: the adapter against moto in server mode, with SigV4 signatures enforced."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import ValidationError

from providers import ses
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, TransientDeliveryError
from providers.http_gateway import Answer
from tests.conftest import free_port
from tests.vendors.loopback import LOOPBACK
from tests.vendors.ses import CONFIGURATION_SET, REGION, VERIFIED_SENDER, MotoSes

SENDER = f"Herald Alerts <{VERIFIED_SENDER}>"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoSes]:
    server = MotoSes()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False) as c:
        yield c


def config(moto: MotoSes, **overrides: Any) -> ses.Config:
    return ses.Config.model_validate({"region": REGION, "access_key_id": moto.access_key_id,
                                      "secret_access_key": moto.secret_access_key, "from": SENDER,
                                      "base_url": moto.base_url, **overrides})


def provider(moto: MotoSes, client: httpx.AsyncClient, **overrides: Any) -> Provider:
    return ses.build("ses", config(moto, **overrides), client, deadline_s=10, allow=LOOPBACK)


def message(address: str | None = None, html: str | None = "<p>Your order shipped.</p>") -> OutgoingMessage:
    return OutgoingMessage(notification_id=str(uuid.uuid4()), channel="email",
                           address=address or f"{uuid.uuid4().hex[:8]}@example.com", subject="Shipped",
                           body="Your order shipped.", user_id=None, attempt=1, html=html)


async def test_a_signed_send_is_accepted_and_its_message_id_is_the_receipt(moto: MotoSes,
                                                                           client: httpx.AsyncClient) -> None:
    sent = message()
    receipt = await provider(moto, client, configuration_set=CONFIGURATION_SET).send(sent)
    [stored] = [m for m in moto.sent() if m["destinations"] == {"ToAddresses": [sent.address]}]
    assert receipt.provider == "ses" and receipt.provider_message_id == stored["id"]
    assert stored["source"] == SENDER and stored["subject"] == "Shipped"
    assert stored["body"] == "<p>Your order shipped.</p>"  # moto keeps the HTML part when there is one


async def test_without_html_the_text_part_is_sent(moto: MotoSes, client: httpx.AsyncClient) -> None:
    sent = message(html=None)
    await provider(moto, client).send(sent)
    [stored] = [m for m in moto.sent() if m["destinations"] == {"ToAddresses": [sent.address]}]
    assert stored["body"] == "Your order shipped."


def test_the_request_carries_both_parts_the_delivery_key_and_the_configuration_set(moto: MotoSes) -> None:
    sent = message()
    body = ses.payload(sent, config(moto, configuration_set=CONFIGURATION_SET))
    simple = body["Content"]["Simple"]
    assert simple["Body"] == {"Text": {"Data": "Your order shipped.", "Charset": "UTF-8"},
                              "Html": {"Data": "<p>Your order shipped.</p>", "Charset": "UTF-8"}}
    assert simple["Headers"] == [{"Name": "X-Herald-Delivery-Key", "Value": sent.delivery_key}]
    assert body["ConfigurationSetName"] == CONFIGURATION_SET


async def test_a_wrong_secret_fails_the_signature_check_permanently(moto: MotoSes,
                                                                    client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match="HTTP 403"):
        await provider(moto, client, secret_access_key="not-the-secret").send(message())


async def test_an_unverified_sender_is_rejected_permanently(moto: MotoSes, client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 400 .*MessageRejected"):
        await provider(moto, client, **{"from": "someone@elsewhere.example"}).send(message())


def answer(status: int, body: bytes, **headers: str) -> Answer:
    return Answer(status, httpx.Headers(headers), body)


def test_throttling_and_server_errors_are_transient_the_rest_permanent() -> None:
    rate = ses.failure("ses", answer(429, b'{"message":"Maximum sending rate exceeded."}',
                                     **{"x-amzn-ErrorType": "TooManyRequestsException:", "Retry-After": "3"}))
    assert isinstance(rate, TransientDeliveryError) and rate.retry_after_s == 3
    quota = ses.failure("ses", answer(400, b'{"__type":"ThrottlingException",'
                                           b'"message":"Daily message quota exceeded."}'))
    assert isinstance(quota, TransientDeliveryError) and "ThrottlingException" in quota.message
    assert isinstance(ses.failure("ses", answer(503, b"")), TransientDeliveryError)
    for kind, status in (("MessageRejected", 400), ("AccountSuspendedException", 400),
                         ("SendingPausedException", 400), ("NotFoundException", 404),
                         ("MailFromDomainNotVerifiedException", 400), ("AccessDeniedException", 403)):
        error = ses.failure("ses", answer(status, b'{"message":"no"}', **{"x-amzn-ErrorType": kind}))
        assert isinstance(error, PermanentDeliveryError) and kind in error.message, kind


async def test_an_endpoint_that_cannot_be_reached_is_transient(moto: MotoSes, client: httpx.AsyncClient) -> None:
    closed = ses.build("ses", config(moto, base_url=f"http://127.0.0.1:{free_port()}"), client, deadline_s=2,
                       allow=LOOPBACK)
    with pytest.raises(TransientDeliveryError, match="ses"):
        await closed.send(message())


async def test_a_base_url_on_a_private_host_needs_the_egress_allowlist(moto: MotoSes,
                                                                       client: httpx.AsyncClient) -> None:
    strict = ses.build("ses", config(moto), client, deadline_s=5)
    with pytest.raises(PermanentDeliveryError, match="not a public address"):
        await strict.send(message())


def test_the_config_names_what_is_missing_or_invalid() -> None:
    with pytest.raises(ValidationError) as missing:
        ses.Config.model_validate({"region": "us-east-1", "access_key_id": "AKIA", "from": SENDER})
    assert [e["loc"] for e in missing.value.errors()] == [("secret_access_key",)]
    with pytest.raises(ValidationError) as invalid:
        ses.Config.model_validate({"region": "evil.example/x", "access_key_id": "AKIA", "secret_access_key": "s",
                                   "from": SENDER, "configuration_set": ""})
    assert {e["loc"] for e in invalid.value.errors()} == {("region",), ("configuration_set",)}
    defaults = ses.Config.model_validate({"region": "eu-central-2", "access_key_id": "AKIA",
                                          "secret_access_key": "s", "from": SENDER})
    assert defaults.endpoint == "https://email.eu-central-2.amazonaws.com" and defaults.base_url is None
    assert ses.SECRETS == ("secret_access_key",) and ses.CHANNELS == ("email",)


def test_the_signer_built_once_signs_each_request_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ses.Config.model_validate({"region": REGION, "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                                          "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                          "from": SENDER})
    kept = ses.signer(settings)
    url, body = f"{settings.endpoint}{ses.PATH}", b'{"FromEmailAddress":"a@example.com"}'
    signatures = set()
    for now in (datetime(2026, 12, 1, 23, 59, 59), datetime(2026, 12, 2, 0, 0, 1), datetime(2026, 12, 2, 9, 30)):
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda now=now: now)
        fresh = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(settings.access_key_id, settings.secret_access_key), "ses", REGION).add_auth(fresh)
        signed = ses.signed_headers(kept, url, body)
        assert signed["X-Amz-Date"] == now.strftime("%Y%m%dT%H%M%SZ")
        assert signed["Authorization"] == fresh.headers["Authorization"]
        signatures.add(signed["Authorization"])
    assert len(signatures) == 3
