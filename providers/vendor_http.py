"""What the SMS and chat vendor adapters share: the check of a URL in their config, where a request goes when
`base_url` is set, the egress rule for a vendor's URL, and the answers every vendor gives alike.

A vendor's URL comes from an integration's config, which anyone holding an admin key can write: it passes the
same egress check as a user's webhook (public addresses, plus what HERALD_WEBHOOK_ALLOWED_HOSTS permits).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import AfterValidator

from core import pii
from providers.base import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import Answer, retry_after_seconds

# The egress rule when the caller names none: public addresses only.
PUBLIC_ONLY = Allowlist(hosts=frozenset(), networks=())


def http_url(value: str) -> str:
    """A config URL: http(s) with a host; refused otherwise (a pydantic error naming the field)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    return value


def base(value: str) -> str:
    """A `base_url`: an http(s) origin, maybe with a path prefix, never a query."""
    parts = urlsplit(http_url(value))
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or a fragment")
    return value.rstrip("/")


# Config field types: a pydantic error names the field when the value is not one.
HttpUrl = Annotated[str, AfterValidator(http_url)]
BaseUrl = Annotated[str, AfterValidator(base)]


def rebase(url: str, base_url: str | None) -> str:
    """`url` sent through `base_url` (a regional endpoint, a proxy, a test double), its path and query kept."""
    if base_url is None:
        return url
    target, parts = urlsplit(base_url), urlsplit(url)
    return urlunsplit((target.scheme, target.netloc, target.path.rstrip("/") + parts.path, parts.query, ""))


def vetting(base_url: str, default: str, allow: Allowlist) -> Allowlist | None:
    """The egress rule for requests to `base_url`: none for the vendor's own default, which is Herald's code
    and not config data (a network may well resolve it to a private egress proxy); `allow` for any other."""
    return None if base_url == default else allow


def json_of(answer: Answer) -> Any:
    """The answer's JSON, or None when it has none."""
    try:
        return answer.json()
    except ValueError:
        return None


def overload(name: str, answer: Answer, detail: str) -> DeliveryError | None:
    """What every vendor means alike: 408, 429 and 5xx are transient (with the answer's Retry-After)."""
    if answer.status in (408, 429) or answer.status >= 500:
        return TransientDeliveryError(f"{name}: HTTP {answer.status} {detail}",
                                      retry_after_s=retry_after_seconds(answer.headers.get("retry-after")))
    return None


def refusal(name: str, answer: Answer, detail: str, *, transient: bool) -> DeliveryError:
    """The error of a failed answer: 408, 429 and 5xx transient (see `overload`), otherwise as the vendor's own
    error code says (`transient`)."""
    error = overload(name, answer, detail)
    if error is not None:
        return error
    kind = TransientDeliveryError if transient else PermanentDeliveryError
    return kind(f"{name}: HTTP {answer.status} {detail}")


def said(text: object, limit: int = 200) -> str:
    """A vendor's own words, short and with any address in them masked: they end up in timelines and logs."""
    return pii.mask(str(text))[:limit]


def form(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def as_json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
