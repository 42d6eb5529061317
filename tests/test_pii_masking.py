"""No address, phone number or key reaches a log line, whoever logs it."""

from __future__ import annotations

import logging

import pytest

from core import pii


@pytest.mark.parametrize("text, hidden, shown", [
    ("delivery to ada.lovelace@example.com failed", "ada.lovelace@", "a***@example.com"),
    ("sms to +44 20 7946 0958 refused", "7946", "+**********58"),
    ("sms to 555-867-5309 refused", "867", "********09"),
    ("Authorization: Bearer hk_ab12_s3cr3tvalue", "s3cr3t", "Bearer ***"),
    ("key hk_ab12cd_Zm9vYmFy-_x leaked", "Zm9vYmFy", "hk_ab12cd_***"),
    ("token hut_AbC123xyz", "AbC123xyz", "hut_***"),
    ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8G", "whsec_***"),
])
def test_mask_hides_the_secret_and_keeps_a_hint(text: str, hidden: str, shown: str) -> None:
    masked = pii.mask(text)
    assert hidden not in masked and shown in masked


@pytest.mark.parametrize("text", [
    "notification 61bb11c1-7c32-51f7-86f1-cf185edf2067 delivered in 12 ms",
    "GET /v1/notifications?limit=50 200",
    "2026-11-22 10:00:00 attempt 3 of 5",
    "workflow notification-abc123 on queue notifications-deliver-sms",
])
def test_ids_times_and_counts_stay_readable(text: str) -> None:
    assert pii.mask(text) == text


def test_every_logger_is_masked_once_installed(caplog: pytest.LogCaptureFixture) -> None:
    pii.install()
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="temporalio.activity")  # conftest quiets it
    logging.getLogger("temporalio.activity").warning("Completing activity as failed: %s",
                                                     ValueError("550 no mailbox ada@example.com"))
    logging.getLogger("herald.api").info("sent to %(phone)s", {"phone": "+15551234567"})
    try:
        raise RuntimeError("bounce from grace@example.org")
    except RuntimeError:
        logging.getLogger("herald.worker").exception("delivery crashed")
    text = caplog.text
    assert "ada@example.com" not in text and "a***@example.com" in text
    assert "5551234567" not in text and "+*********67" in text
    assert "grace@example.org" not in text and "g***@example.org" in text
