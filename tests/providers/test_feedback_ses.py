"""SES through SNS: messages signed as SNS signs them (RSA, SHA-1 or SHA-256) with a certificate from a test CA,
served over real TLS on loopback from a host the test configures as trusted."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.settings import Settings
from providers.feedback import BadSignature, ses
from services.feedback import sns_certificates
from tests.conftest import free_port

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:herald-ses"
CONFIG = {"topic_arn": TOPIC}


@dataclass
class CertServer:
    base: str
    key: rsa.RSAPrivateKey
    trust: ses.CertificateTrust
    client: httpx.AsyncClient
    fetches: list[str]

    def certificates(self) -> ses.Certificates:
        return ses.Certificates(self.client, self.trust)


@pytest.fixture(scope="module")
async def sns(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CertServer]:
    tls_ca = trustme.CA()
    tls_cert = tls_ca.issue_cert("127.0.0.1")
    folder: Path = tmp_path_factory.mktemp("sns")
    tls_cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "tls.pem"))
    # The signing certificate: an RSA key certified by a CA of the test's own, as SNS's is by Amazon's.
    signing_ca = trustme.CA(key_type=trustme.KeyType.RSA)
    signing = signing_ca.issue_cert("sns.us-east-1.amazonaws.com", key_type=trustme.KeyType.RSA)
    key = serialization.load_pem_private_key(signing.private_key_pem.bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    pem = signing.cert_chain_pems[0].bytes()
    fetches: list[str] = []

    async def certificate(request: Request) -> Response:
        fetches.append(request.url.path)
        if request.url.path.endswith("/missing.pem"):
            return Response(status_code=404)
        return Response(b"not a certificate" if request.url.path.endswith("/junk.pem") else pem,
                        media_type="application/x-pem-file")

    port = free_port()
    app = Starlette(routes=[Route("/{name}", certificate)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           ssl_certfile=str(folder / "tls.pem")))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.02)
    context = ssl.create_default_context()
    tls_ca.configure_trust(context)
    async with httpx.AsyncClient(verify=context) as client:
        yield CertServer(f"https://127.0.0.1:{port}", key, ses.CertificateTrust(re.compile(r"^127\.0\.0\.1$"), port),
                         client, fetches)
    server.should_exit = True
    await task


def sign(message: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "1") -> dict[str, Any]:
    """SNS's documented algorithm, written out independently of the module under test."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{name}\n{message[name]}\n" for name in names if name in message)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    return {**message, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode()}


def notification(sns: CertServer, ses_message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn": TOPIC,
            "Message": json.dumps(ses_message), "Timestamp": "2026-11-30T11:59:06.655Z",
            "SigningCertURL": f"{sns.base}/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "UnsubscribeURL": f"{sns.base}/?Action=Unsubscribe", **extra}


MAIL = {"timestamp": "2016-01-27T14:59:38.237Z",
        "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
        "source": "john@example.com", "destination": ["jane@example.com", "mary@example.com"]}
# SES's documented notification samples (shortened).
BOUNCE: dict[str, Any] = {"notificationType": "Bounce", "mail": MAIL, "bounce": {
    "bounceType": "Permanent", "bounceSubType": "General", "timestamp": "2016-01-27T14:59:38.237Z",
    "feedbackId": "00000137860315fd-869464a4-8680-4114-98d3-716fe35851f9-000000",
    "bouncedRecipients": [{"emailAddress": "jane@example.com", "status": "5.1.1",
                           "diagnosticCode": "smtp; 550 5.1.1 user unknown"},
                          {"emailAddress": "mary@example.com", "status": "5.1.1"}]}}
SOFT = {"notificationType": "Bounce", "mail": MAIL, "bounce": {
    "bounceType": "Transient", "bounceSubType": "MailboxFull", "timestamp": "2016-01-27T14:59:38.237Z",
    "bouncedRecipients": [{"emailAddress": "jane@example.com"}]}}
COMPLAINT = {"notificationType": "Complaint", "mail": MAIL, "complaint": {
    "complainedRecipients": [{"emailAddress": "jane@example.com"}], "timestamp": "2016-01-27T14:59:38.237Z",
    "feedbackId": "0000013786031775-fea503bc-7497-49e1-881b-a0379bb037d3-000000", "complaintFeedbackType": "abuse"}}
DELIVERY = {"notificationType": "Delivery", "mail": MAIL, "delivery": {
    "timestamp": "2016-01-27T14:59:38.237Z", "recipients": ["jane@example.com"],
    "smtpResponse": "250 ok:  Message 64111812 accepted", "processingTimeMillis": 546}}


async def read(sns: CertServer, message: dict[str, Any], config: dict[str, Any] = CONFIG,
               certificates: ses.Certificates | None = None) -> ses.SnsFeedback:
    return await ses.verify_and_read(config, "https://h/v1/feedback/ses", {}, json.dumps(message).encode(),
                                     certificates=certificates or sns.certificates(), now=NOW)


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_bounce_is_read_per_recipient(sns: CertServer, version: str) -> None:
    feedback = await read(sns, sign(notification(sns, BOUNCE), sns.key, version))
    assert feedback.subscribe_url is None
    assert [(e.address, e.kind, e.permanent) for e in feedback.events] == [
        ("jane@example.com", "bounced", True), ("mary@example.com", "bounced", True)]
    first = feedback.events[0]
    assert first.provider_message_id == MAIL["messageId"] and first.reason == "smtp; 550 5.1.1 user unknown"
    assert first.occurred_at == datetime(2016, 1, 27, 14, 59, 38, 237000, tzinfo=UTC)
    assert len({e.event_id for e in feedback.events}) == 2


@pytest.mark.parametrize(("notice", "kind", "permanent"), [
    (SOFT, "bounced", False), (COMPLAINT, "complained", False), (DELIVERY, "delivered", False),
])
async def test_soft_bounces_complaints_and_deliveries(sns: CertServer, notice: dict[str, Any], kind: str,
                                                      permanent: bool) -> None:
    [event] = (await read(sns, sign(notification(sns, notice), sns.key))).events
    assert (event.kind, event.permanent, event.address) == (kind, permanent, "jane@example.com")


async def test_the_signing_certificate_is_fetched_once(sns: CertServer) -> None:
    certificates = sns.certificates()
    before = len(sns.fetches)
    for _ in range(3):
        await read(sns, sign(notification(sns, DELIVERY), sns.key), certificates=certificates)
    assert len(sns.fetches) == before + 1


async def test_a_subscription_confirmation_yields_its_subscribe_url(sns: CertServer) -> None:
    subscribe = f"{sns.base}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37"
    message = {"Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
               "Token": "2336412f37", "TopicArn": TOPIC, "Message": "You have chosen to subscribe to the topic.",
               "SubscribeURL": subscribe, "Timestamp": "2026-11-30T11:59:00.000Z",
               "SigningCertURL": f"{sns.base}/SimpleNotificationService-cert.pem"}
    feedback = await read(sns, sign(message, sns.key))
    assert feedback == ses.SnsFeedback(events=[], subscribe_url=subscribe)
    tampered = {**sign(message, sns.key), "SubscribeURL": f"{sns.base}/?Action=ConfirmSubscription&Token=evil"}
    with pytest.raises(BadSignature):
        await read(sns, tampered)


@pytest.mark.parametrize("case", ["unsigned", "other key", "tampered message", "wrong version", "other topic",
                                  "stale", "untrusted host", "plain http", "junk certificate"])
async def test_a_missing_or_wrong_signature_or_an_untrusted_cert_url_is_refused(sns: CertServer, case: str) -> None:
    message = sign(notification(sns, BOUNCE), sns.key)
    if case == "unsigned":
        del message["Signature"]
    elif case == "other key":
        message = sign(notification(sns, BOUNCE), rsa.generate_private_key(65537, 2048))
    elif case == "tampered message":
        message["Message"] = json.dumps({**BOUNCE, "bounce": {**BOUNCE["bounce"], "bounceType": "Transient"}})
    elif case == "wrong version":
        message["SignatureVersion"] = "3"
    elif case == "other topic":
        message = sign(notification(sns, BOUNCE, TopicArn="arn:aws:sns:us-east-1:666:attacker"), sns.key)
    elif case == "stale":
        message = sign(notification(sns, BOUNCE, Timestamp="2026-11-30T10:00:00.000Z"), sns.key)
    elif case == "untrusted host":
        message = sign(notification(sns, BOUNCE, SigningCertURL="https://sns.evil.example.com/cert.pem"), sns.key)
    elif case == "plain http":
        url = message["SigningCertURL"].replace("https://", "http://")
        message = sign(notification(sns, BOUNCE, SigningCertURL=url), sns.key)
    else:
        message = sign(notification(sns, BOUNCE, SigningCertURL=f"{sns.base}/junk.pem"), sns.key)
    with pytest.raises(BadSignature) as refused:
        await read(sns, message)
    assert refused.value.status == 401


async def test_only_amazons_sns_hosts_are_trusted_by_default() -> None:
    trust = ses.CertificateTrust()
    assert trust.permits("https://sns.us-west-2.amazonaws.com/SimpleNotificationService-abc.pem")
    assert trust.permits("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem")
    for url in ("http://sns.us-west-2.amazonaws.com/x.pem", "https://sns.us-west-2.amazonaws.com.evil.com/x.pem",
                "https://evil.com/sns.us-west-2.amazonaws.com/x.pem", "https://s3.amazonaws.com/x.pem",
                "https://sns.us-west-2.amazonaws.com:8443/x.pem", "https://u@sns.us-west-2.amazonaws.com/x.pem",
                "https://127.0.0.1/x.pem"):
        assert not trust.permits(url), url


async def test_an_unreachable_certificate_is_unavailable_not_a_bad_signature(sns: CertServer) -> None:
    message = sign(notification(sns, BOUNCE, SigningCertURL=f"{sns.base}/missing.pem"), sns.key)
    with pytest.raises(Exception) as failed:
        await read(sns, message)
    assert getattr(failed.value, "status", None) == 503


async def test_a_stale_timestamp_is_measured_against_now(sns: CertServer) -> None:
    message = sign(notification(sns, DELIVERY), sns.key)
    with pytest.raises(BadSignature):
        await ses.verify_and_read(CONFIG, "https://h", {}, json.dumps(message).encode(),
                                  certificates=sns.certificates(), now=NOW + timedelta(hours=2))


async def test_a_configured_certificate_host_replaces_amazons() -> None:
    """HERALD_SNS_CERT_HOST: one host and port of the operator's (an SNS-compatible service, a test's own)."""
    certificates = sns_certificates(Settings(HERALD_SNS_CERT_HOST="127.0.0.1:8443").sns_certificate_host)
    try:
        assert certificates.trust.permits("https://127.0.0.1:8443/SimpleNotificationService-abc.pem")
        for url in ("https://127.0.0.1/x.pem", "https://127.0.0.2:8443/x.pem", "http://127.0.0.1:8443/x.pem",
                    "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-abc.pem"):
            assert not certificates.trust.permits(url), url
    finally:
        await certificates.client.aclose()
    unset = sns_certificates(Settings().sns_certificate_host)
    await unset.client.aclose()
    assert unset.trust == ses.CertificateTrust()
    with pytest.raises(ValidationError, match="HERALD_SNS_CERT_HOST"):
        Settings(HERALD_SNS_CERT_HOST="https://127.0.0.1:8443/")
