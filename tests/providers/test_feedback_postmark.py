"""Postmark webhooks: HTTP Basic credentials from the integration's config, records read as documented."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from providers.feedback import BadSignature, postmark

CONFIG = {"webhook_username": "herald", "webhook_password": "s3cret-" + "x" * 20}


def basic(user: str = "herald", password: str = CONFIG["webhook_password"]) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


DELIVERY = {"RecordType": "Delivery", "ServerID": 23, "MessageStream": "outbound",
            "MessageID": "00000000-0000-0000-0000-000000000000", "Recipient": "john@example.com", "Tag": "welcome",
            "DeliveredAt": "2019-11-05T16:33:54.9070259Z", "Details": "Test delivery webhook details"}
BOUNCE = {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": "HardBounce", "TypeCode": 1,
          "Name": "Hard bounce", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Description":
          "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
          "Details": "Test bounce details", "Email": "john@example.com", "BouncedAt": "2019-11-05T16:33:54.9070259Z",
          "Inactive": True, "CanActivate": True}
SOFT = {**BOUNCE, "ID": 42, "Type": "SoftBounce", "TypeCode": 4096, "Inactive": False,
        "Description": "Mailbox full"}
COMPLAINT = {**BOUNCE, "RecordType": "SpamComplaint", "ID": 43, "Type": "SpamComplaint", "TypeCode": 512}
OPEN = {"RecordType": "Open", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Recipient": "john@example.com"}


@pytest.mark.parametrize(("record", "kind", "permanent"), [
    (DELIVERY, "delivered", False), (BOUNCE, "bounced", True), (SOFT, "bounced", False),
    (COMPLAINT, "complained", False), (OPEN, "other", False),
])
def test_the_documented_records_are_read(record: dict[str, Any], kind: str, permanent: bool) -> None:
    [event] = postmark.verify_and_read(CONFIG, "https://h", basic(), json.dumps(record).encode())
    assert (event.provider_message_id, event.kind, event.permanent) == (record["MessageID"], kind, permanent)
    assert event.address == "john@example.com"
    if kind == "bounced":
        assert event.event_id == f"Bounce:{record['ID']}" and event.reason == record["Description"]
        assert event.occurred_at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)
    again = postmark.verify_and_read(CONFIG, "https://h", basic(), json.dumps(record).encode())
    assert again[0].event_id == event.event_id


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer abc"}, basic(password="wrong"), basic(user="other"),
    {"Authorization": "Basic !!!"}, {"Authorization": "Basic " + base64.b64encode(b"herald").decode()},
])
def test_missing_or_wrong_credentials_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(BadSignature) as refused:
        postmark.verify_and_read(CONFIG, "https://h", headers, json.dumps(DELIVERY).encode())
    assert refused.value.status == 401


def test_an_integration_without_credentials_verifies_nothing() -> None:
    with pytest.raises(BadSignature):
        postmark.verify_and_read({}, "https://h", basic(user="", password=""), json.dumps(DELIVERY).encode())
