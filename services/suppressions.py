"""Suppressions: the addresses Herald will not send to, from the API, the dashboard, the CLI and vendor feedback.

An address is compared in one normal form, so that `Ada@Example.com` and `ada@example.com`, or `+1 415 555 2671`
and `+14155552671`, are one suppression: emails are lowercased, phone numbers written in E.164, anything else is
taken as given (trimmed).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import phonenumbers

from core.errors import Problem, invalid
from core.models import Channel
from store import suppressions

if TYPE_CHECKING:
    from store.db import Executor
    from store.suppressions import SuppressionRecord

CHANNELS = tuple(c.value for c in Channel)
MAX_ADDRESS = 512
MAX_REASON = 500
# Who adds suppressions; besides these, a provider that answers a send that the address is gone for good adds
# one under its integration's id (services/feedback.py: `gone_at_send`).
SOURCES = ("api", "dashboard", "feedback")
# A page's cursor: the (created_at, channel, address) of its last row.
CURSOR = (datetime, str, str)


class BadAddress(ValueError):
    """An address that cannot be written in its channel's normal form."""


def normalize(channel: str, address: str) -> str:
    """The address as suppressions store and compare it; BadAddress when it cannot be one on this channel."""
    text = address.strip()
    if not text:
        raise BadAddress("the address is empty")
    if channel == Channel.EMAIL:
        if "@" not in text:
            raise BadAddress("an email address needs an @")
        return text.lower()
    if channel == Channel.SMS:
        if text.isdigit():  # a `+` that a query string turned into a space
            text = "+" + text
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            raise BadAddress("a phone number must be in international form (+<country><number>)") from None
        if not phonenumbers.is_valid_number(number):
            raise BadAddress("not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return text


def _checked(channel: str, address: str) -> str:
    if channel not in CHANNELS:
        raise invalid("channel", f"unknown channel '{channel}'; one of {', '.join(CHANNELS)}")
    if len(address) > MAX_ADDRESS:
        raise invalid("address", f"at most {MAX_ADDRESS} characters")
    if "\x00" in address:  # PostgreSQL text cannot hold it
        raise invalid("address", "an address cannot contain a NUL character")
    try:
        return normalize(channel, address)
    except BadAddress as exc:
        raise invalid("address", str(exc)) from exc


async def add(conn: Executor, *, channel: str, address: str, reason: str | None, source: str) -> SuppressionRecord:
    """Suppresses the address (422 naming the field when the channel or the address is not one); adding one
    already suppressed answers the suppression as it was."""
    normalized = _checked(channel, address)
    if reason is not None and (len(reason) > MAX_REASON or "\x00" in reason):
        raise invalid("reason", f"at most {MAX_REASON} characters, and no NUL character")
    return await suppressions.add(conn, channel=channel, address=normalized, reason=reason or "manual",
                                  source=source)


async def suppress(conn: Executor, *, channel: str, address: str, reason: str, source: str) -> SuppressionRecord:
    """Herald's own suppression (a vendor's hard bounce or complaint): the address made as normal as it can be,
    never refused."""
    return await suppressions.add(conn, channel=channel, address=_as_normal_as_possible(channel, address),
                                  reason=reason[:MAX_REASON], source=source)


def normal_forms(wanted: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Herald's own suppressions of (channel, address, reason), each address made as normal as it can be and
    given its first reason, in the order of their normal forms: two transactions that suppress the same addresses
    then wait for each other in one order, never in a cycle."""
    normal = {(channel, _as_normal_as_possible(channel, address)): reason[:MAX_REASON]
              for channel, address, reason in reversed(wanted)}
    return [(channel, address, reason) for (channel, address), reason in sorted(normal.items())]


async def remove(conn: Executor, channel: str, address: str) -> None:
    """Sends to the address again; 404 when it was not suppressed."""
    normalized = _checked(channel, address)
    if not await suppressions.remove(conn, channel, normalized):
        raise Problem(404, "not_found", f"no suppression of that {channel} address")


async def list_page(conn: Executor, *, channel: str | None, address: str | None,
                    after: tuple[datetime, str, str] | None, limit: int) -> list[SuppressionRecord]:
    """A page, newest first; `address` is matched in its normal form."""
    if channel is not None and channel not in CHANNELS:
        raise invalid("channel", f"unknown channel '{channel}'; one of {', '.join(CHANNELS)}")
    normalized = None
    if address is not None:
        if len(address) > MAX_ADDRESS or "\x00" in address:
            raise invalid("address", f"at most {MAX_ADDRESS} characters, and no NUL character")
        if channel is None:
            # Without a channel the address is compared as each channel would write it.
            normalized = address.strip().lower() if "@" in address else address.strip()
        else:
            normalized = _checked(channel, address)
    return await suppressions.list_page(conn, channel=channel, address=normalized, after=after, limit=limit)


def stored_form(channel: str, address: str) -> str | None:
    """The form a suppression of `address` on `channel` is stored in, for the delivery's check at each attempt;
    None when no stored address can match it."""
    if "\x00" in address:  # no stored address holds one
        return None
    return _as_normal_as_possible(channel, address)


def _as_normal_as_possible(channel: str, address: str) -> str:
    """An address that has no normal form is taken as given: nobody could have suppressed it in another form."""
    try:
        return normalize(channel, address)
    except BadAddress:
        return address.strip()
