"""Mailgun webhooks: signed as Mailgun signs them (HMAC-SHA256 of timestamp + token), read as documented."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from providers.feedback import BadSignature, mailgun

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEY = "key-" + "7" * 32
CONFIG = {"webhook_signing_key": KEY}


def body(event: dict[str, Any], at: datetime = NOW, key: str = KEY) -> bytes:
    timestamp, token = str(int(at.timestamp())), "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps({"signature": {"timestamp": timestamp, "token": token, "signature": digest},
                       "event-data": event}).encode()


def event(name: str, **extra: Any) -> dict[str, Any]:
    # The shape of Mailgun's documented webhook samples.
    return {"id": "G9Bn5sl1TC6nu79C8C0bwg", "timestamp": 1521233123.501324, "event": name,
            "recipient": "alice@example.com", "log-level": "info",
            "message": {"headers": {"message-id": "20130503182626.18666.16540@sandbox.mailgun.org",
                                    "to": "Alice <alice@example.com>", "subject": "Test"}},
            **extra}


@pytest.mark.parametrize(("data", "kind", "permanent"), [
    (event("delivered", **{"delivery-status": {"code": 250, "message": "OK"}}), "delivered", False),
    (event("failed", severity="permanent", reason="bounce",
           **{"delivery-status": {"code": 550, "description": "No such mailbox"}}), "bounced", True),
    (event("failed", severity="temporary", reason="generic",
           **{"delivery-status": {"code": 452, "message": "mailbox full"}}), "bounced", False),
    (event("failed", severity="permanent", reason="suppress-bounce"), "undelivered", True),
    (event("complained"), "complained", False),
    (event("opened"), "other", False),
])
def test_the_documented_events_are_read(data: dict[str, Any], kind: str, permanent: bool) -> None:
    [read] = mailgun.verify_and_read(CONFIG, "https://h", {}, body(data), now=NOW)
    assert (read.kind, read.permanent) == (kind, permanent)
    assert read.provider_message_id == "20130503182626.18666.16540@sandbox.mailgun.org"
    assert read.event_id == "G9Bn5sl1TC6nu79C8C0bwg" and read.address == "alice@example.com"
    assert read.occurred_at == datetime.fromtimestamp(1521233123.501324, UTC)
    if kind == "bounced" and permanent:
        assert read.reason == "No such mailbox"


def test_the_send_answers_id_matches_the_events() -> None:
    assert mailgun.message_id("<20130503182626.18666.16540@sandbox.mailgun.org>") == \
        "20130503182626.18666.16540@sandbox.mailgun.org"


@pytest.mark.parametrize("case", ["missing", "wrong key", "tampered token", "stale", "not json"])
def test_a_missing_or_wrong_signature_is_refused(case: str) -> None:
    raw = body(event("delivered"))
    if case == "missing":
        raw = json.dumps({"event-data": event("delivered")}).encode()
    elif case == "wrong key":
        raw = body(event("delivered"), key="key-other")
    elif case == "tampered token":
        raw = raw.replace(b"a8ce0edb", b"b8ce0edb")
    elif case == "stale":
        raw = body(event("delivered"), at=NOW - timedelta(hours=2))
    else:
        raw = b"token=x"
    with pytest.raises(BadSignature) as refused:
        mailgun.verify_and_read(CONFIG, "https://h", {}, raw, now=NOW)
    assert refused.value.status == 401
