"""Vendors' delivery feedback: each module verifies one vendor's signed callback and reads its events.

Every vendor module offers `verify_and_read(config, url, headers, raw_body)`. It checks the vendor's signature
over the exact bytes received first and raises `BadSignature` (answered 401) before it trusts anything in the
body; only then does it read the body into `FeedbackEvent`s. A verified body that is not the vendor's format
raises `BadFeedback` (400). Nothing here touches the database or a workflow: applying the events is the caller's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from core.errors import Problem

Kind = Literal["delivered", "bounced", "complained", "undelivered", "other"]
# A vendor's own words are kept short: they reach a timeline, not an archive.
MAX_REASON = 200


@dataclass(frozen=True)
class FeedbackEvent:
    """One thing a vendor reports about one message it accepted from Herald.

    `kind` is `other` for what Herald does not act on (opens, clicks, queued, deferred). `permanent` tells a hard
    bounce from a soft one. `event_id` is the vendor's own id of this event when it has one, else a stable hash
    of the event, so a callback the vendor repeats yields the same id and is applied once."""

    provider_message_id: str
    kind: Kind
    permanent: bool
    reason: str
    occurred_at: datetime | None
    address: str | None
    event_id: str


class BadSignature(Problem):
    """The callback's signature is missing or wrong, or cannot be checked: nothing in it may be believed."""

    def __init__(self, message: str):
        super().__init__(401, "unauthorized", message)


class BadFeedback(Problem):
    """A correctly signed callback that is not in the vendor's format."""

    def __init__(self, message: str):
        super().__init__(400, "invalid_feedback", message)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A request header by name, whatever the case the server or framework gave it."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def setting(config: Mapping[str, Any], name: str) -> str:
    """A required string from the integration's config: without it no callback can be verified."""
    value = config.get(name)
    if not isinstance(value, str) or not value:
        raise BadSignature(f"the integration has no '{name}' to verify its callbacks with")
    return value


def same(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time comparison, so a forger learns nothing from how long a refusal takes."""
    left = expected.encode() if isinstance(expected, str) else expected
    right = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


def stable_id(*parts: object) -> str:
    """An event id for vendors that send none: the same event always hashes to the same id."""
    text = json.dumps([str(part) for part in parts], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def short(reason: object) -> str:
    return str(reason or "")[:MAX_REASON]


def check_fresh(signed_at: datetime, now: datetime, max_age_s: float, vendor: str) -> None:
    """Refuses a signed timestamp further than `max_age_s` from now, either way: a captured callback cannot be
    replayed later, and a clock far ahead is as suspect as one far behind."""
    if abs((now - signed_at).total_seconds()) > max_age_s:
        raise BadSignature(f"{vendor}: the signed timestamp is outside the {max_age_s:g} s replay window")


def from_unix(value: object) -> datetime | None:
    """A Unix time (seconds, maybe fractional, maybe a string) as an aware datetime; None when it is not one."""
    try:
        return datetime.fromtimestamp(float(str(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def from_iso(value: object) -> datetime | None:
    """An ISO 8601 time (`Z` or an offset) as an aware datetime; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def json_body(raw_body: bytes, vendor: str) -> Any:
    try:
        return json.loads(raw_body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadFeedback(f"{vendor}: the body is not JSON") from exc


def now_utc() -> datetime:
    return datetime.now(UTC)
