"""Amazon SES v2: the adapter against moto in server mode, with SigV4 signatures enforced."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
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
from tests.vendors.ses import CONFIGURATION_SET, REGION, VERIFIED_SENDER, MotoSes, SesDouble

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


def config(double: MotoSes | SesDouble, **overrides: Any) -> ses.Config:
    return ses.Config.model_validate({"region": REGION, "access_key_id": double.access_key_id,
                                      "secret_access_key": double.secret_access_key, "from": SENDER,
                                      "base_url": double.base_url, **overrides})


def provider(double: MotoSes | SesDouble, client: httpx.AsyncClient, **overrides: Any) -> Provider:
    return ses.build("ses", config(double, **overrides), client, deadline_s=10, allow=LOOPBACK)


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


KEYS = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def botocore_signed(monkeypatch: pytest.MonkeyPatch, url: str, body: bytes, now: datetime,
                    keys: tuple[str, str] = KEYS) -> list[tuple[str, str]]:
    """The headers botocore's own SigV4Auth.add_auth puts on the request, signing at `now`."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now)
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(*keys), "ses", REGION).add_auth(request)
    return [(name, str(value)) for name, value in request.headers.items()]


@pytest.mark.parametrize("url", [
    f"{ses.default_endpoint(REGION)}{ses.PATH}",
    f"http://127.0.0.1:4566{ses.PATH}",
    f"https://SES-Proxy.Example:443/aws/./ses{ses.PATH}",
    f"https://[2001:db8::5]:8443/a%20b/{ses.PATH}",
])
def test_the_kept_signer_signs_as_botocore_does_for_every_body_url_and_time(monkeypatch: pytest.MonkeyPatch,
                                                                            url: str) -> None:
    kept = ses.Signer(*KEYS, REGION, url)
    bodies = [b"", b'{"FromEmailAddress":"a@example.com"}',
              '{"Subject":{"Data":"Grüße, 日本","Charset":"UTF-8"}}'.encode(), b"x" * 200_000]
    # Across two UTC midnights (one a year's end) and back over one, as a stepped clock would: the key kept
    # for one day must never sign on another.
    times = [datetime(2026, 12, 1, 23, 59, 59), datetime(2026, 12, 2, 0, 0, 0), datetime(2026, 12, 2, 9, 30, 1),
             datetime(2026, 12, 1, 23, 59, 58), datetime(2026, 12, 31, 23, 59, 59), datetime(2027, 1, 1, 0, 0, 1)]
    signatures = set()
    for now in times:
        for body in bodies:
            signed = kept.headers(body, now)
            assert list(signed.items()) == botocore_signed(monkeypatch, url, body, now), (now, body[:40])
            signatures.add(signed["Authorization"])
    assert len(signatures) == len(times) * len(bodies)


async def test_each_attempt_goes_out_dated_now_and_signed_as_botocore_signs_it(moto: MotoSes,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    async def capture(request: httpx.Request) -> None:
        seen.append(request)

    sent = message()
    async with httpx.AsyncClient(follow_redirects=False, event_hooks={"request": [capture]}) as watched:
        receipts = [await provider(moto, watched).send(sent) for _ in range(2)]
    stored = {m["id"] for m in moto.sent() if m["destinations"] == {"ToAddresses": [sent.address]}}
    assert {r.provider_message_id for r in receipts} == stored and len(stored) == 2
    for request in seen:
        stamp = datetime.strptime(request.headers["X-Amz-Date"], ses.TIMESTAMP)
        assert abs(datetime.now(UTC).replace(tzinfo=None) - stamp) < timedelta(minutes=1)
        expected = botocore_signed(monkeypatch, str(request.url), request.content, stamp,
                                   keys=(moto.access_key_id, moto.secret_access_key))
        assert [(name, request.headers[name]) for name, _ in expected] == expected


@pytest.fixture
async def light() -> AsyncIterator[SesDouble]:
    double = SesDouble()
    await double.start()
    yield double
    await double.stop()


async def test_the_bench_double_takes_a_signed_send_and_refuses_what_moto_refuses(light: SesDouble,
                                                                                  client: httpx.AsyncClient) -> None:
    sent = message()
    receipt = await provider(light, client).send(sent)
    [taken] = light.accepted
    assert receipt.provider_message_id == taken["message_id"]
    assert taken["body"]["Destination"] == {"ToAddresses": [sent.address]} and taken["subject"] == "Shipped"
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 403 .*InvalidSignatureException"):
        await provider(light, client, secret_access_key="not-the-secret").send(message())
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 403 .*UnrecognizedClientException"):
        await provider(light, client, access_key_id="AKIAUNKNOWNKEY000000").send(message())
    with pytest.raises(PermanentDeliveryError, match=r"HTTP 400 .*MessageRejected"):
        await provider(light, client, **{"from": "someone@elsewhere.example"}).send(message())
    # Signed for one body, sent with another; or signed an hour ago.
    url = f"{light.base_url}{ses.PATH}"
    signer = ses.Signer(light.access_key_id, light.secret_access_key, REGION, url)
    body = json.dumps(ses.payload(message(), config(light))).encode()
    tampered = await client.post(url, content=body.replace(b"Shipped", b"Shipped!"), headers=signer.headers(body))
    stale = await client.post(url, content=body, headers=signer.headers(body, datetime.now(UTC) - timedelta(hours=1)))
    assert (tampered.status_code, tampered.headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")
    assert stale.status_code == 403 and "expired" in stale.json()["message"]
    assert light.refused == ["signature", "signature", "sender", "signature", "signature"]
    assert len(light.accepted) == 1
