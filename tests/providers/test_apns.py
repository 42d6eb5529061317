"""The APNs adapter against a strict double of Apple's provider API, over real HTTP/2 with TLS on loopback."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from providers import apns
from providers.base import AddressGone, PermanentDeliveryError, TransientDeliveryError
from tests.vendors.apns import Apns, refusal
from tests.vendors.loopback import LOOPBACK, Reply, message

TEAM = "ABCDE12345"
KEY_ID = "KEY1234567"
BUNDLE = "com.example.herald"


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


KEY = ec.generate_private_key(ec.SECP256R1())
CA = trustme.CA()


@pytest.fixture(scope="module")
async def double(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Apns]:
    public = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    server = Apns(team_id=TEAM, key_id=KEY_ID, public_key_pem=public, bundle_id=BUNDLE, ca=CA,
                  directory=tmp_path_factory.mktemp("apns"))
    await server.start()
    yield server
    await server.stop()


def config(double: Apns, **fields: Any) -> apns.Config:
    return apns.Config.model_validate({"team_id": TEAM, "key_id": KEY_ID, "private_key": pem(KEY),
                                       "bundle_id": BUNDLE, "environment": "development", "base_url": double.base,
                                       "ca_certificate": CA.cert_pem.bytes().decode(), **fields})


@asynccontextmanager
async def opened(double: Apns, clock: list[float] | None = None, deadline_s: float = 10,
                 **fields: Any) -> AsyncIterator[apns.ApnsProvider]:
    """An adapter (its clock, its config) whose HTTP/2 client is closed when the test ends."""
    now = clock if clock is not None else [0.0]
    sender = apns.ApnsProvider("apns", config(double, **fields), deadline_s=deadline_s, allow=LOOPBACK,
                               clock=lambda: now[0])
    try:
        yield sender
    finally:
        await sender.aclose()


@pytest.fixture
async def sender(double: Apns) -> AsyncIterator[apns.ApnsProvider]:
    async with opened(double) as built:
        yield built


def device() -> str:
    return secrets.token_hex(32)


async def test_one_alert_over_http2_with_a_verified_provider_token(double: Apns,
                                                                   sender: apns.ApnsProvider) -> None:
    token = device()
    sent = message(token, subject="Hi", body="Your order shipped", channel="push")
    receipt = await sender.send(sent)
    [request] = double.to(token, "device")
    assert request.path == f"/3/device/{token}"
    assert request.fields["aps"]["alert"] == {"title": "Hi", "body": "Your order shipped"}
    assert request.headers["apns-topic"] == BUNDLE and request.headers["apns-push-type"] == "alert"
    assert double.versions[-1] == "2"
    assert receipt.provider == "apns" and receipt.provider_message_id == request.headers["apns-id"]
    assert uuid.UUID(receipt.provider_message_id) == uuid.uuid5(apns.APNS_ID_NAMESPACE, sent.delivery_key)


async def test_every_attempt_of_one_delivery_has_the_same_apns_id(double: Apns, sender: apns.ApnsProvider) -> None:
    token = device()
    sent = message(token, channel="push")
    double.script[token].append(refusal(503, "ServiceUnavailable"))
    with pytest.raises(TransientDeliveryError, match="ServiceUnavailable"):
        await sender.send(sent)
    await sender.send(sent)
    first, second = double.to(token, "device")
    assert first.headers["apns-id"] == second.headers["apns-id"]


async def test_the_double_refuses_http1_wrong_topic_and_bad_paths(double: Apns, sender: apns.ApnsProvider) -> None:
    token = await sender.tokens.get()
    headers = {"authorization": f"bearer {token}", "apns-topic": BUNDLE, "apns-push-type": "alert"}
    body = b'{"aps":{"alert":"hi"}}'
    async with httpx.AsyncClient(verify=apns.tls_context(CA.cert_pem.bytes().decode())) as http1:
        answer = await http1.post(f"{double.base}/3/device/{device()}", content=body, headers=headers)
        assert answer.status_code == 505 and answer.http_version == "HTTP/1.1"
    async with httpx.AsyncClient(http2=True, verify=apns.tls_context(CA.cert_pem.bytes().decode())) as http2:
        wrong_topic = await http2.post(f"{double.base}/3/device/{device()}", content=body,
                                       headers={**headers, "apns-topic": "com.example.other"})
        bad_path = await http2.post(f"{double.base}/3/devices/{device()}", content=body, headers=headers)
        good = await http2.post(f"{double.base}/3/device/{device()}", content=body, headers=headers)
    assert (wrong_topic.status_code, wrong_topic.json()) == (400, {"reason": "DeviceTokenNotForTopic"})
    assert (bad_path.status_code, bad_path.json()) == (404, {"reason": "BadPath"})
    assert good.status_code == 200 and good.http_version == "HTTP/2"


async def test_the_provider_token_is_kept_for_40_minutes(double: Apns) -> None:
    now = [0.0]
    async with opened(double, now) as sender:
        for _ in range(3):
            await sender.send(message(device(), channel="push"))
        first = double.tokens[-1]
        now[0] = apns.TOKEN_REFRESH_S - 1
        await sender.send(message(device(), channel="push"))
        assert double.tokens[-1] == first
        now[0] = apns.TOKEN_REFRESH_S
        await sender.send(message(device(), channel="push"))
        assert double.tokens[-1] != first


async def test_an_expired_provider_token_is_replaced_once_and_the_alert_sent(double: Apns) -> None:
    now = [0.0]
    async with opened(double, now) as sender:
        await sender.send(message(device(), channel="push"))
        old = double.tokens[-1]
        now[0] = apns.TOKEN_MIN_AGE_S
        token = device()
        double.script[token].append(refusal(403, "ExpiredProviderToken"))
        receipt = await sender.send(message(token, channel="push"))
        first, second = double.to(token, "device")
        assert first.headers["authorization"] == f"bearer {old}"
        assert second.headers["authorization"] != f"bearer {old}"
        assert receipt.provider_message_id == second.headers["apns-id"]


async def test_a_provider_token_is_never_replaced_within_20_minutes(double: Apns) -> None:
    now = [0.0]
    async with opened(double, now) as sender:
        await sender.send(message(device(), channel="push"))
        now[0] = apns.TOKEN_MIN_AGE_S - 1
        expired, invalid = device(), device()
        double.script[expired].append(refusal(403, "ExpiredProviderToken"))
        double.script[invalid].append(refusal(403, "InvalidProviderToken"))
        with pytest.raises(TransientDeliveryError, match="ExpiredProviderToken"):
            await sender.send(message(expired, channel="push"))
        with pytest.raises(PermanentDeliveryError, match="InvalidProviderToken"):
            await sender.send(message(invalid, channel="push"))
        assert len(double.to(expired, "device")) == len(double.to(invalid, "device")) == 1


async def test_a_key_apple_does_not_know_is_permanent(double: Apns) -> None:
    async with opened(double, private_key=pem(ec.generate_private_key(ec.SECP256R1()))) as sender:
        with pytest.raises(PermanentDeliveryError, match="InvalidProviderToken"):
            await sender.send(message(device(), channel="push"))


async def test_a_bundle_id_the_token_is_not_for_is_permanent(double: Apns) -> None:
    async with opened(double, bundle_id="com.example.other") as sender:
        with pytest.raises(PermanentDeliveryError, match="DeviceTokenNotForTopic"):
            await sender.send(message(device(), channel="push"))


@pytest.mark.parametrize("reply, reason, maybe_foreign", [
    (refusal(410, "Unregistered"), "unregistered", False), (refusal(410, "ExpiredToken"), "expired_token", False),
    (refusal(400, "BadDeviceToken"), "bad_device_token", True)])
async def test_dead_or_bad_device_tokens_are_gone(double: Apns, sender: apns.ApnsProvider, reply: Reply,
                                                  reason: str, maybe_foreign: bool) -> None:
    token = device()
    double.script[token].append(reply)
    with pytest.raises(AddressGone, match=reply.body["reason"]) as caught:
        await sender.send(message(token, channel="push"))
    assert (caught.value.reason, caught.value.maybe_foreign) == (reason, maybe_foreign)


@pytest.mark.parametrize("reply", [refusal(413, "PayloadTooLarge"), refusal(400, "BadTopic"),
                                   refusal(400, "TopicDisallowed")])
async def test_a_message_or_topic_apns_will_not_take_is_permanent_not_gone(double: Apns, sender: apns.ApnsProvider,
                                                                          reply: Reply) -> None:
    token = device()
    double.script[token].append(reply)
    with pytest.raises(PermanentDeliveryError, match=reply.body["reason"]) as caught:
        await sender.send(message(token, channel="push"))
    assert not isinstance(caught.value, AddressGone)


@pytest.mark.parametrize("reply", [refusal(429, "TooManyRequests", {"Retry-After": "12"}),
                                   refusal(500, "InternalServerError"), refusal(503, "ServiceUnavailable")])
async def test_throttling_and_server_errors_are_transient(double: Apns, sender: apns.ApnsProvider,
                                                         reply: Reply) -> None:
    token = device()
    double.script[token].append(reply)
    with pytest.raises(TransientDeliveryError, match=reply.body["reason"]) as caught:
        await sender.send(message(token, channel="push"))
    assert caught.value.retry_after_s == (12.0 if reply.status == 429 else None)


async def test_an_address_that_is_not_a_device_token_is_permanent_and_never_sent(double: Apns,
                                                                                sender: apns.ApnsProvider) -> None:
    before = len(double.received)
    for address in ("not-a-token", device()[:40], device() + "/../x"):
        with pytest.raises(PermanentDeliveryError, match="device token"):
            await sender.send(message(address, channel="push"))
    assert len(double.received) == before


async def test_no_complete_answer_within_the_deadline_is_transient(double: Apns) -> None:
    token = device()
    double.script[token].append(Reply(200, delay_s=5))
    async with opened(double, deadline_s=0.5) as sender:
        with pytest.raises(TransientDeliveryError, match="no complete answer"):
            await sender.send(message(token, channel="push"))


async def test_a_certificate_from_another_ca_is_refused(double: Apns) -> None:
    async with opened(double, ca_certificate=trustme.CA().cert_pem.bytes().decode()) as sender:
        with pytest.raises(TransientDeliveryError, match="ConnectError"):
            await sender.send(message(device(), channel="push"))


async def test_base_url_passes_the_egress_check(double: Apns) -> None:
    async with httpx.AsyncClient() as client:
        sender = apns.build("apns", config(double), client, deadline_s=10)
    assert isinstance(sender, apns.ApnsProvider)
    before = len(double.received)
    try:
        with pytest.raises(PermanentDeliveryError, match="not a public address"):
            await sender.send(message(device(), channel="push"))
    finally:
        await sender.aclose()
    assert len(double.received) == before


@pytest.mark.parametrize(("fields", "field"), [
    ({"team_id": None}, "team_id"),
    ({"team_id": "abc"}, "team_id"),
    ({"key_id": "short"}, "key_id"),
    ({"private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"}, "private_key"),
    ({"bundle_id": "com example"}, "bundle_id"),
    ({"environment": "staging"}, "environment"),
    ({"base_url": "ftp://apns"}, "base_url"),
    ({"ca_certificate": "not a certificate"}, "ca_certificate"),
    ({"base_url": None}, "ca_certificate"),
    ({"certificate_p12": "legacy"}, "certificate_p12"),
])
def test_config_names_the_missing_or_invalid_field(fields: dict[str, Any], field: str) -> None:
    data = {"team_id": TEAM, "key_id": KEY_ID, "private_key": pem(KEY), "bundle_id": BUNDLE,
            "environment": "production", "base_url": "https://apns.example.com",
            "ca_certificate": CA.cert_pem.bytes().decode(), **fields}
    with pytest.raises(ValidationError) as caught:
        apns.Config.model_validate({k: v for k, v in data.items() if v is not None})
    assert field in str(caught.value)
    assert apns.SECRETS == ("private_key",) and apns.CHANNELS == ("push",)


def test_an_rsa_key_is_not_an_apns_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ValidationError, match="private_key"):
        apns.Config.model_validate({"team_id": TEAM, "key_id": KEY_ID, "bundle_id": BUNDLE,
                                    "environment": "production", "private_key": pem(key)})
