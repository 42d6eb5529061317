"""The FCM adapter against a strict double of FCM HTTP v1 and of Google's OAuth2 token endpoint on loopback."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from providers import fcm
from providers.base import AddressGone, PermanentDeliveryError, TransientDeliveryError
from tests.vendors.fcm import Fcm, error
from tests.vendors.loopback import LOOPBACK, Reply, message

PROJECT = "herald-test-1234"
EMAIL = "herald@herald-test-1234.iam.gserviceaccount.com"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


KEY = rsa_key()


@pytest.fixture(scope="module")
async def double() -> AsyncIterator[Fcm]:
    public = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    server = Fcm(PROJECT, EMAIL, public)
    await server.start()
    yield server
    await server.stop()


def service_account(double: Fcm, key: rsa.RSAPrivateKey = KEY, **fields: str) -> str:
    return json.dumps({"type": "service_account", "project_id": PROJECT, "private_key_id": "k1",
                       "private_key": pem(key), "client_email": EMAIL, "client_id": "1",
                       "token_uri": double.token_uri, **fields})


def config(double: Fcm, **fields: Any) -> fcm.Config:
    return fcm.Config.model_validate({"project_id": PROJECT, "service_account_json": service_account(double),
                                      "base_url": double.base, **fields})


def provider(double: Fcm, client: httpx.AsyncClient, **fields: Any) -> fcm.FcmProvider:
    built = fcm.build("fcm", config(double, **fields), client, deadline_s=10, allow=LOOPBACK)
    assert isinstance(built, fcm.FcmProvider)
    return built


def device() -> str:
    return "fcm-" + secrets.token_urlsafe(32)


def exchanges(double: Fcm) -> int:
    return sum(1 for r in double.received if r.path == "/token")


async def test_one_push_with_an_access_token_from_the_service_account(double: Fcm, client: httpx.AsyncClient) -> None:
    token = device()
    receipt = await provider(double, client).send(message(token, subject="Hi", body="Your order shipped",
                                                          channel="push"))
    [sent] = double.to(token, "token")
    assert sent.path == f"/v1/projects/{PROJECT}/messages:send"
    assert sent.fields["notification"] == {"title": "Hi", "body": "Your order shipped"}
    assert sent.headers["authorization"] == f"Bearer {double.issued[-1]}"
    assert receipt.provider == "fcm" and receipt.provider_message_id.startswith(f"projects/{PROJECT}/messages/")


async def test_the_access_token_is_kept_until_shortly_before_it_expires(double: Fcm,
                                                                       client: httpx.AsyncClient) -> None:
    now = [1000.0]
    sender = provider(double, client)
    sender.tokens = fcm.AccessTokens("fcm", config(double), client, deadline_s=10, allow=LOOPBACK,
                                     clock=lambda: now[0])
    before = exchanges(double)
    for _ in range(3):
        await sender.send(message(device(), channel="push"))
    assert exchanges(double) == before + 1
    now[0] += double.expires_in - fcm.TOKEN_MARGIN_S - 1
    await sender.send(message(device(), channel="push"))
    assert exchanges(double) == before + 1
    now[0] += 2
    await sender.send(message(device(), channel="push"))
    assert exchanges(double) == before + 2


@pytest.mark.parametrize("reply, reason, maybe_foreign", [
    (error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"), "unregistered", False),
    (error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
           "INVALID_ARGUMENT"), "invalid_token", True),
])
async def test_unregistered_or_invalid_tokens_are_gone(double: Fcm, client: httpx.AsyncClient, reply: Reply,
                                                       reason: str, maybe_foreign: bool) -> None:
    token = device()
    double.script[token].append(reply)
    code = reply.body["error"]["details"][0]["errorCode"]
    with pytest.raises(AddressGone, match=code) as caught:
        await provider(double, client).send(message(token, channel="push"))
    assert (caught.value.reason, caught.value.maybe_foreign) == (reason, maybe_foreign)


@pytest.mark.parametrize("reply", [
    error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "INVALID_ARGUMENT"),
    error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
])
async def test_a_message_fcm_cannot_take_or_a_sender_mismatch_is_permanent_not_gone(
        double: Fcm, client: httpx.AsyncClient, reply: Reply) -> None:
    """INVALID_ARGUMENT without the registration token named is about the message, not the token."""
    token = device()
    double.script[token].append(reply)
    code = reply.body["error"]["details"][0]["errorCode"]
    with pytest.raises(PermanentDeliveryError, match=code) as caught:
        await provider(double, client).send(message(token, channel="push"))
    assert not isinstance(caught.value, AddressGone)


@pytest.mark.parametrize("reply", [
    error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
    error(500, "INTERNAL", "Internal error encountered.", "INTERNAL"),
])
async def test_unavailable_and_internal_are_transient(double: Fcm, client: httpx.AsyncClient, reply: Reply) -> None:
    token = device()
    double.script[token].append(reply)
    with pytest.raises(TransientDeliveryError):
        await provider(double, client).send(message(token, channel="push"))


async def test_quota_exceeded_is_transient_with_the_retry_hint(double: Fcm, client: httpx.AsyncClient) -> None:
    token = device()
    double.script[token].append(error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", "QUOTA_EXCEEDED",
                                      {"Retry-After": "30"}))
    with pytest.raises(TransientDeliveryError, match="QUOTA_EXCEEDED") as caught:
        await provider(double, client).send(message(token, channel="push"))
    assert caught.value.retry_after_s == 30.0


async def test_a_key_the_token_endpoint_refuses_is_permanent(double: Fcm, client: httpx.AsyncClient) -> None:
    settings = config(double, service_account_json=service_account(double, rsa_key()))
    token = device()
    with pytest.raises(PermanentDeliveryError, match="invalid_grant"):
        await fcm.build("fcm", settings, client, deadline_s=10, allow=LOOPBACK).send(message(token, channel="push"))
    assert double.to(token, "token") == []


async def test_an_access_token_fcm_refuses_is_replaced_once_and_the_push_sent(double: Fcm,
                                                                             client: httpx.AsyncClient) -> None:
    sender = provider(double, client)
    await sender.send(message(device(), channel="push"))
    refused = double.issued[-1]
    double.revoked.add(refused)
    token = device()
    before = exchanges(double)
    receipt = await sender.send(message(token, channel="push"))
    assert exchanges(double) == before + 1
    [sent] = double.to(token, "token")
    assert sent.headers["authorization"] == f"Bearer {double.issued[-1]}" != f"Bearer {refused}"
    assert receipt.provider_message_id.startswith(f"projects/{PROJECT}/messages/")


async def test_credentials_fcm_refuses_twice_are_permanent(double: Fcm, client: httpx.AsyncClient) -> None:
    token = device()
    refusal = error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
                    "THIRD_PARTY_AUTH_ERROR")
    double.script[token] += [refusal, refusal, Reply(200, {"name": "never reached"})]
    with pytest.raises(PermanentDeliveryError, match="THIRD_PARTY_AUTH_ERROR"):
        await provider(double, client).send(message(token, channel="push"))
    assert len(double.to(token, "token")) == 2


async def test_an_unavailable_token_endpoint_is_transient(double: Fcm, client: httpx.AsyncClient) -> None:
    double.token_script.append(Reply(503, {"error": "temporarily_unavailable"}, {"Retry-After": "5"}))
    with pytest.raises(TransientDeliveryError) as caught:
        await provider(double, client).send(message(device(), channel="push"))
    assert caught.value.retry_after_s == 5.0


async def test_no_complete_answer_within_the_deadline_is_transient(double: Fcm, client: httpx.AsyncClient) -> None:
    token = device()
    double.script[token].append(Reply(200, {"name": "late"}, delay_s=5))
    sender = fcm.build("fcm", config(double), client, deadline_s=0.5, allow=LOOPBACK)
    with pytest.raises(TransientDeliveryError, match="no complete answer"):
        await sender.send(message(token, channel="push"))


async def test_base_url_and_token_uri_pass_the_egress_check(double: Fcm, client: httpx.AsyncClient) -> None:
    before = len(double.received)
    with pytest.raises(PermanentDeliveryError, match="not a public address"):
        await fcm.build("fcm", config(double), client, deadline_s=10).send(message(device(), channel="push"))
    assert len(double.received) == before


async def test_the_vendors_message_is_masked(double: Fcm, client: httpx.AsyncClient) -> None:
    token = device()
    double.script[token].append(error(400, "INVALID_ARGUMENT", "bad recipient someone@example.com",
                                      "INVALID_ARGUMENT"))
    with pytest.raises(PermanentDeliveryError) as caught:
        await provider(double, client).send(message(token, channel="push"))
    assert "someone@example.com" not in str(caught.value)


@pytest.mark.parametrize(("fields", "field"), [
    ({"project_id": None}, "project_id"),
    ({"project_id": "Not A Project"}, "project_id"),
    ({"service_account_json": "not json"}, "service_account_json"),
    ({"service_account_json": json.dumps({"type": "authorized_user"})}, "service_account_json"),
    ({"service_account_json": json.dumps({"type": "service_account", "client_email": EMAIL,
                                          "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n"})},
     "service_account_json"),
    ({"base_url": "ftp://fcm"}, "base_url"),
    ({"server_key": "legacy"}, "server_key"),
])
def test_config_names_the_missing_or_invalid_field(double: Fcm, fields: dict[str, Any], field: str) -> None:
    data = {"project_id": PROJECT, "service_account_json": service_account(double), **fields}
    with pytest.raises(ValidationError) as caught:
        fcm.Config.model_validate({k: v for k, v in data.items() if v is not None})
    assert field in str(caught.value)
    assert fcm.SECRETS == ("service_account_json",) and fcm.CHANNELS == ("push",)
