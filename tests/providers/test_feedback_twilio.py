"""Twilio status callbacks: signed as Twilio signs them (HMAC-SHA1 over URL + sorted params), read as documented."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from providers.feedback import BadSignature, twilio

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
CONFIG = {"auth_token": TOKEN}


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    """Twilio's documented algorithm, written out independently of the module under test."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def callback(status: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "MessageStatus": status, "AccountSid":
            "AC" + "0" * 32, "From": "+14155550000", "To": "+14155552671", "ApiVersion": "2010-04-01", **extra}


def test_twilios_documented_example_signature() -> None:
    # The worked example of Twilio's "Webhooks security" page: this URL, these params, auth token 12345.
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
              ("From", "+12349013030"), ("To", "+18005551212")]
    assert twilio.signature(TOKEN, URL, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.mark.parametrize(("status", "code", "kind", "permanent"), [
    ("delivered", None, "delivered", False),
    ("undelivered", "30003", "undelivered", False),
    ("undelivered", "30006", "undelivered", True),
    ("failed", "30008", "undelivered", True),
    ("sent", None, "other", False),
])
def test_statuses_are_read(status: str, code: str | None, kind: str, permanent: bool) -> None:
    params = callback(status, **({"ErrorCode": code} if code else {}))
    [event] = twilio.verify_and_read(CONFIG, URL, {"x-twilio-signature": sign(URL, params)},
                                     urlencode(params).encode())
    assert (event.provider_message_id, event.kind, event.permanent) == (params["MessageSid"], kind, permanent)
    assert event.address == "+14155552671" and status in event.reason and (code or "") in event.reason
    again = twilio.verify_and_read(CONFIG, URL, {"X-Twilio-Signature": sign(URL, params)},
                                   urlencode(params).encode())
    assert again[0].event_id == event.event_id  # a repeated callback is the same event


def test_the_default_port_may_be_dropped_by_a_proxy() -> None:
    params = callback("delivered")
    signed_with_port = sign("https://mycompany.com:443/hook", params)
    [event] = twilio.verify_and_read(CONFIG, "https://mycompany.com/hook", {"X-Twilio-Signature": signed_with_port},
                                     urlencode(params).encode())
    assert event.kind == "delivered"


@pytest.mark.parametrize("case", ["missing", "wrong token", "tampered body", "other url", "not a form"])
def test_a_missing_or_wrong_signature_is_refused(case: str) -> None:
    params = callback("delivered")
    body = urlencode(params).encode()
    headers = {"X-Twilio-Signature": sign(URL, params)}
    url = URL
    if case == "missing":
        headers = {}
    elif case == "wrong token":
        headers = {"X-Twilio-Signature": sign(URL, params, token="other")}
    elif case == "tampered body":
        body = urlencode({**params, "MessageStatus": "undelivered"}).encode()
    elif case == "other url":
        url = "https://mycompany.com/elsewhere"
    else:
        body = b"\xff\xfe"
    with pytest.raises(BadSignature) as refused:
        twilio.verify_and_read(CONFIG, url, headers, body)
    assert refused.value.status == 401


def test_an_integration_without_an_auth_token_verifies_nothing() -> None:
    params = callback("delivered")
    with pytest.raises(BadSignature):
        twilio.verify_and_read({}, URL, {"X-Twilio-Signature": sign(URL, params, token="")},
                               urlencode(params).encode())
