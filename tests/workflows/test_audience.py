"""Preferences and quiet hours, decided when a notification is due, on the time-skipping server."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.audience import quiet_until
from store import inbox
from tests.workflows.conftest import Harness
from tests.workflows.test_notification_workflow import events

NIGHT = {"quiet_hours": {"start": "22:00", "end": "07:00"}}


def next_local(now: datetime, zone: str, at: time) -> datetime:
    """The next moment after `now` when the wall clock in `zone` shows `at`."""
    local = now.astimezone(ZoneInfo(zone))
    candidate = datetime.combine(local.date(), at, tzinfo=ZoneInfo(zone))
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=ZoneInfo(zone))
    return candidate.astimezone(UTC)


async def test_a_category_opt_out_skips_with_the_reason(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["in_app"], category="marketing",
                                      user={"preferences": {"categories": {"marketing": False}}})
    assert (await handle.result()).status == "skipped"
    row = await harness.row(nid)
    assert row["status"] == "skipped" and row["deliveries"][0]["status"] == "skipped"
    assert "opted out of category 'marketing'" in row["timeline"][-1]["detail"]
    assert await inbox.list_items(harness.pool, row["user_id"], unread_only=False, after=None, limit=5) == []


async def test_otp_ignores_opt_outs_and_quiet_hours(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    send_at = next_local(now, "UTC", time(23, 0))
    nid, handle = await harness.start(channels=["in_app"], category="marketing", priority="otp", send_at=send_at,
                                      user={"preferences": {"categories": {"marketing": False},
                                                            "channels": {"in_app": False}, **NIGHT}})
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    assert row["delivered_at"] - send_at < timedelta(minutes=1)


async def test_a_channel_opt_out_skips_that_channel_only(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["in_app", "sim"], to={"sim": "ok"},
                                      user={"preferences": {"channels": {"sim": False}}})
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    assert {d["channel"]: d["status"] for d in row["deliveries"]} == {"in_app": "delivered", "sim": "skipped"}
    assert "channels_skipped" in events(row)


async def test_opting_out_of_every_channel_skips_the_notification(harness: Harness) -> None:
    _, handle = await harness.start(channels=["in_app"], user={"preferences": {"channels": {"in_app": False}}})
    assert (await handle.result()).status == "skipped"


async def test_an_opt_out_after_accept_is_respected_when_the_send_is_due(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    nid, handle = await harness.start(channels=["in_app"], category="news", send_at=now + timedelta(days=2))
    row = await harness.row(nid)
    await harness.pool.execute("""UPDATE app_user SET preferences = '{"categories": {"news": false}}'::jsonb
                                  WHERE id = $1""", row["user_id"])
    assert (await handle.result()).status == "skipped"


async def test_quiet_hours_hold_the_send_until_they_end_in_the_users_time_zone(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    zone = "America/New_York"
    # Due at 23:30 in New York (04:30 or 03:30 UTC, the next day): inside 22:00-07:00 there.
    due = next_local(now, zone, time(23, 30))
    nid, handle = await harness.start(channels=["in_app"], send_at=due, user={"timezone": zone, "preferences": NIGHT})
    expected = next_local(due, zone, time(7, 0))
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    assert expected <= row["delivered_at"] < expected + timedelta(minutes=1)
    assert row["delivered_at"].astimezone(ZoneInfo(zone)).time() < time(7, 1)
    assert "quiet_hours" in events(row)
    assert row["send_at"] == expected  # the API shows when it will go


def test_quiet_hours_arithmetic() -> None:
    paris = "Europe/Paris"
    night = {"quiet_hours": {"start": "22:00", "end": "07:00"}}
    at = datetime(2026, 11, 22, 22, 30, tzinfo=ZoneInfo(paris))
    assert quiet_until(night, paris, at) == datetime(2026, 11, 23, 7, 0, tzinfo=ZoneInfo(paris))
    at = datetime(2026, 11, 23, 6, 59, tzinfo=ZoneInfo(paris))
    assert quiet_until(night, paris, at) == datetime(2026, 11, 23, 7, 0, tzinfo=ZoneInfo(paris))
    assert quiet_until(night, paris, datetime(2026, 11, 23, 7, 0, tzinfo=ZoneInfo(paris))) is None
    assert quiet_until(night, paris, datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo(paris))) is None
    lunch = {"quiet_hours": {"start": "12:00", "end": "14:00"}}
    assert quiet_until(lunch, paris, datetime(2026, 11, 23, 13, 0, tzinfo=ZoneInfo(paris))) == datetime(
        2026, 11, 23, 14, 0, tzinfo=ZoneInfo(paris))
    # The same instant is quiet in Paris (23:00) but not in New York (17:00).
    instant = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    assert quiet_until(night, paris, instant) is not None
    assert quiet_until(night, "America/New_York", instant) is None
    # A DST night: Paris leaves summer time on 2026-10-25; 07:00 local is still 07:00 on the wall.
    dst = quiet_until(night, paris, datetime(2026, 10, 24, 23, 0, tzinfo=ZoneInfo(paris)))
    assert dst is not None and dst.astimezone(ZoneInfo(paris)).hour == 7
