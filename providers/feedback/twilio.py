"""Twilio's message status callbacks (`StatusCallback`), form-encoded and signed with `X-Twilio-Signature`.

The signature is HMAC-SHA1, keyed with the account's auth token, over the full callback URL followed by every
POST parameter's name and value, parameters sorted by name (a repeated name: its values sorted), base64-encoded.
Twilio signs the URL as it called it; like Twilio's own RequestValidator, the URL is also tried with the
scheme's default port added or removed, since proxies differ in whether they keep it. Twilio sends no signed
timestamp, so there is no replay window; a replayed callback repeats an event id and is applied once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from providers.feedback import BadFeedback, BadSignature, FeedbackEvent, Kind, header, same, setting, short, stable_id

SIGNATURE_HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"https": 443, "http": 80}
# `undelivered` with one of these codes will not change on a retry: the number cannot take SMS at all.
PERMANENT_CODES = frozenset({
    "30004",  # message blocked
    "30005",  # unknown destination handset
    "30006",  # landline or unreachable carrier
    "21610",  # the recipient opted out (STOP)
    "21614",  # not a mobile number
})


def signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """What Twilio puts in `X-Twilio-Signature` for a POST of `params` to `url`."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        values.setdefault(name, []).append(value)
    signed = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, and with its scheme's default port added or removed."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    if default is None or parts.hostname is None:
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        other = parts._replace(netloc=f"{prefix}{host}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=f"{prefix}{host}")
    else:
        return [url]
    return [url, urlunsplit(other)]


def verify(config: Mapping[str, Any], url: str, headers: Mapping[str, str], raw_body: bytes) -> list[tuple[str, str]]:
    """The callback's form parameters, once its signature is proven; BadSignature otherwise."""
    auth_token = setting(config, "auth_token")
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise BadSignature(f"twilio: no {SIGNATURE_HEADER} header")
    try:
        params = parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw_body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadSignature("twilio: the body is not a form, so its signature cannot be checked") from exc
    if not any(same(signature(auth_token, candidate, params), given) for candidate in _url_variants(url)):
        raise BadSignature(f"twilio: {SIGNATURE_HEADER} does not match")
    return params


def verify_and_read(config: Mapping[str, Any], url: str, headers: Mapping[str, str],
                    raw_body: bytes) -> list[FeedbackEvent]:
    """One event per callback: `delivered`, `undelivered` (and `failed`) are acted on; other statuses are `other`.
    config: `auth_token`."""
    fields = dict(verify(config, url, headers, raw_body))
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    status = fields.get("MessageStatus") or fields.get("SmsStatus")
    if not sid or not status:
        raise BadFeedback("twilio: a status callback needs MessageSid and MessageStatus")
    code = fields.get("ErrorCode") or ""
    kind: Kind = "other"
    if status == "delivered":
        kind = "delivered"
    elif status in ("undelivered", "failed"):
        kind = "undelivered"
    permanent = kind == "undelivered" and (status == "failed" or code in PERMANENT_CODES)
    reason = f"{status} (error {code})" if code else status
    # Twilio gives a status callback no id of its own: the message and the status it reports name the event.
    return [FeedbackEvent(provider_message_id=sid, kind=kind, permanent=permanent, reason=short(reason),
                          occurred_at=None, address=fields.get("To") or None,
                          event_id=stable_id("twilio", sid, status, code))]
