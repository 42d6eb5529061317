"""SendGrid's signed Event Webhook: an ECDSA P-256 key pair made here, signing as SendGrid signs."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from providers.feedback import BadSignature, sendgrid

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())
CONFIG = {"webhook_verification_key": base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()}
# The shape of SendGrid's documented event samples.
EVENTS = [
    {"email": "example@test.com", "timestamp": 1513299569, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
     "event": "delivered", "category": "cat facts", "sg_event_id": "rWVYmVk90MjZJ9iohOBa3w==",
     "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "response": "250 OK"},
    {"email": "example@test.com", "timestamp": 1513299569, "event": "bounce", "type": "bounce",
     "reason": "500 unknown recipient", "status": "5.0.0", "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
     "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
    {"email": "example@test.com", "timestamp": 1513299569, "event": "bounce", "type": "blocked",
     "reason": "421 try again later", "sg_event_id": "blk-1", "sg_message_id": "W86EgYT6SQKk0lRflfLRsA.filterdrecv-1"},
    {"email": "example@test.com", "timestamp": 1513299569, "event": "dropped", "reason": "Bounced Address",
     "sg_event_id": "zmzJhfJgAfUSOW80yEbPyw==", "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
    {"email": "example@test.com", "timestamp": 1513299569, "event": "spamreport", "sg_event_id": "37nvH5QBz858",
     "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
    {"email": "example@test.com", "timestamp": 1513299569, "event": "open", "sg_event_id": "FOTFFO0ecsBE",
     "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
]


def signed(body: bytes, at: datetime = NOW, key: ec.EllipticCurvePrivateKey = KEY) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {sendgrid.SIGNATURE_HEADER: base64.b64encode(signature).decode(), sendgrid.TIMESTAMP_HEADER: timestamp}


def test_the_documented_events_are_read() -> None:
    body = json.dumps(EVENTS).encode()
    events = sendgrid.verify_and_read(CONFIG, "https://h/v1/feedback/sg", signed(body), body, now=NOW)
    assert [(e.kind, e.permanent) for e in events] == [("delivered", False), ("bounced", True), ("bounced", False),
                                                        ("undelivered", True), ("complained", False),
                                                        ("other", False)]
    assert events[0].provider_message_id == "14c5d75ce93.dfd.64b469"
    assert events[2].provider_message_id == "W86EgYT6SQKk0lRflfLRsA"
    assert events[1].event_id == "6g4ZI7SA-xmRDv57GoPIPw==" and events[1].reason == "500 unknown recipient"
    assert events[0].address == "example@test.com"
    assert events[0].occurred_at == datetime.fromtimestamp(1513299569, UTC)


@pytest.mark.parametrize("case", ["missing", "other key", "tampered body", "other timestamp", "stale", "garbage"])
def test_a_missing_or_wrong_signature_is_refused(case: str) -> None:
    body = json.dumps(EVENTS).encode()
    headers = signed(body)
    if case == "missing":
        headers = {}
    elif case == "other key":
        headers = signed(body, key=ec.generate_private_key(ec.SECP256R1()))
    elif case == "tampered body":
        body = body.replace(b'"delivered"', b'"bounce"')
    elif case == "other timestamp":
        headers[sendgrid.TIMESTAMP_HEADER] = str(int(NOW.timestamp()) + 1)
    elif case == "stale":
        headers = signed(body, at=NOW - timedelta(hours=1))
    else:
        headers[sendgrid.SIGNATURE_HEADER] = "not base64!"
    with pytest.raises(BadSignature) as refused:
        sendgrid.verify_and_read(CONFIG, "https://h/v1/feedback/sg", headers, body, now=NOW)
    assert refused.value.status == 401


def test_a_key_that_is_not_p256_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    config = {"webhook_verification_key": base64.b64encode(other.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()}
    body = b"[]"
    with pytest.raises(BadSignature):
        sendgrid.verify_and_read(config, "https://h", signed(body, key=other), body, now=NOW)


def test_the_key_may_also_be_given_as_pem() -> None:
    pem = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = json.dumps(EVENTS[:1]).encode()
    [event] = sendgrid.verify_and_read({"webhook_verification_key": pem.decode()}, "https://h", signed(body), body,
                                       now=NOW)
    assert event.kind == "delivered"
