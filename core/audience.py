"""Who may be sent what, and when: channel and category opt-outs and quiet hours, decided when a notification
is due (not when it was accepted). Pure functions over a user's record and a moment in time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.models import AudienceDecision, Priority
from core.recipients import Recipient, resolve_addresses


def _parse(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def quiet_until(preferences: dict[str, Any], timezone: str | None, now: datetime) -> datetime | None:
    """When the user's quiet hours end, if `now` falls inside them; None otherwise. Times are local to the user."""
    quiet = preferences.get("quiet_hours")
    if not quiet:
        return None
    start, end = _parse(quiet["start"]), _parse(quiet["end"])
    if start == end:
        return None
    try:
        zone = ZoneInfo(timezone or "UTC")
    except ZoneInfoNotFoundError:
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    at = local.time().replace(second=0, microsecond=0, tzinfo=None)
    inside = start <= at < end if start < end else (at >= start or at < end)
    if not inside:
        return None
    end_day = local.date() if at < end else local.date() + timedelta(days=1)
    # Local wall time, resolved in the zone: a DST change in the night moves the instant, not the wall time.
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)


def decide(user: Recipient, channels: list[str], category: str | None, priority: str,
           now: datetime, to: dict[str, str] | None = None) -> AudienceDecision:
    # A channel the user has no address for is skipped, not failed: a broadcast to everyone must not fill
    # the dead-letter queue with users who never gave a phone number.
    _, unreachable = resolve_addresses(channels, to or {}, user)
    no_address = {c: f"the user has no address for channel '{c}'" for c in unreachable}
    channels = [c for c in channels if c not in no_address]
    if not channels:
        return AudienceDecision(skipped_channels=no_address, skip_reason="; ".join(no_address.values()))
    if priority == Priority.OTP:  # one-time codes ignore opt-outs and quiet hours
        return AudienceDecision(channels=list(channels), skipped_channels=no_address)
    preferences = user.preferences or {}
    if category and (preferences.get("categories") or {}).get(category) is False:
        return AudienceDecision(skip_reason=f"the user opted out of category '{category}'")
    opted_out = {c for c, on in (preferences.get("channels") or {}).items() if on is False}
    allowed = [c for c in channels if c not in opted_out]
    skipped = no_address | {c: f"the user opted out of channel '{c}'" for c in channels if c in opted_out}
    if not allowed:
        return AudienceDecision(skipped_channels=skipped,
                                skip_reason=f"the user opted out of every channel asked for ({', '.join(channels)})")
    return AudienceDecision(channels=allowed, skipped_channels=skipped,
                            quiet_until=quiet_until(preferences, user.timezone, now))
