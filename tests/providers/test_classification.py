"""How provider answers are classified, against real sockets where there is a socket to talk to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers.base import OutgoingMessage, TransientDeliveryError
from providers.http_gateway import retry_after_seconds
from providers.smtp import SmtpConfig, SmtpProvider
from tests.conftest import free_port


async def test_an_smtp_relay_that_is_down_is_transient() -> None:
    closed = free_port()  # nothing listens here
    provider = SmtpProvider("smtp", SmtpConfig(host="127.0.0.1", port=closed, sender="h@example.com", timeout_s=2))
    message = OutgoingMessage(notification_id="n", channel="email", address="a@example.com", subject="s",
                              body="b", user_id=None, attempt=1)
    with pytest.raises(TransientDeliveryError, match="smtp"):
        await provider.send(message)


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Sun, 22 Nov 2026 10:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Sun, 22 Nov 2026 09:00:00 GMT", now) == 0.0  # in the past: retry now
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
