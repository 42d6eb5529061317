"""Workflow ids: each format pinned by an example (running workflows and stored rows keep theirs), and spelled
only in core/workflow_ids.py."""

from __future__ import annotations

import re
from pathlib import Path

from core.models import BroadcastInput, recipient_input
from core.workflow_ids import (
    broadcast_recipient_notification_id,
    broadcast_workflow_id,
    digest_workflow_id,
    notification_id_of,
    notification_workflow_id,
    reconcile_schedule_id,
    reconcile_workflow_id,
    scheduled_fire_workflow_id,
    snooze_workflow_id,
    status_webhook_workflow_id,
    temporal_schedule_id,
)

ROOT = Path(__file__).resolve().parents[2]
NID = "e1129058-ee1e-5f3c-af74-9e060abd50d6"

# A prefix right after an opening quote: an id spelled by hand, in Python (f"notification-{...}") or in SQL
# ('notification-' || ...).
SPELLED = re.compile(r"""["'](notification|broadcast|digest|hook|herald-schedule|scheduled|herald-reconcile|"""
                     r"""reconcile|snooze)-""")
# Quoted words that start like an id but name something else.
NOT_IDS = {("bench/broadcast_scale.py", 'f"broadcast-{args.users}.json"')}


def test_each_format_is_pinned() -> None:
    assert notification_workflow_id(NID) == f"notification-{NID}"
    assert notification_workflow_id(f"{NID}-usr_1") == f"notification-{NID}-usr_1"
    assert broadcast_workflow_id(NID) == f"broadcast-{NID}"
    assert broadcast_recipient_notification_id(NID, "usr_1") == f"{NID}-usr_1"
    assert digest_workflow_id("usr_1", "comments") == "digest-usr_1-comments"
    assert status_webhook_workflow_id("sub_9", NID) == f"hook-sub_9-{NID}"
    assert temporal_schedule_id("sch-0a1b") == "herald-schedule-sch-0a1b"
    assert scheduled_fire_workflow_id("sch-0a1b") == "scheduled-sch-0a1b"
    assert reconcile_workflow_id("notifications") == "reconcile-notifications"
    assert reconcile_schedule_id("notifications") == "herald-reconcile-notifications"
    assert snooze_workflow_id(NID, 1_796_000_000_000) == f"snooze-{NID}-1796000000000"


def test_a_broadcast_recipient_keeps_its_notification_and_workflow_id() -> None:
    b = BroadcastInput(broadcast_id=NID, template="t", template_version=1, data={}, channels=["in_app"],
                       priority="marketing", category=None)
    notification = recipient_input(b, "t-bf55f2e74b-000150")
    # As in the recorded history tests/workflows/histories/v2/broadcast-0abd50d6-4caf4ab5.json.
    assert notification_workflow_id(notification.notification_id) == \
        f"notification-{NID}-t-bf55f2e74b-000150"


def test_the_notification_id_is_read_back_from_its_workflow_id() -> None:
    assert notification_id_of(notification_workflow_id(NID)) == NID
    assert notification_id_of(notification_workflow_id(f"{NID}-usr_1")) == f"{NID}-usr_1"
    assert notification_id_of(broadcast_workflow_id(NID)) is None
    assert notification_id_of(digest_workflow_id("usr_1", "k")) is None


def _sources() -> list[Path]:
    skip = {"tests", "node_modules", "__pycache__"}
    return sorted(p for pattern in ("*.py", "*.sql") for p in ROOT.rglob(pattern)
                  if not any(part in skip or part.startswith(".") for part in p.relative_to(ROOT).parts[:-1]))


def test_no_workflow_id_is_spelled_outside_its_module() -> None:
    module = ROOT / "core" / "workflow_ids.py"
    found = []
    for path in _sources():
        if path == module:
            continue
        name = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SPELLED.search(line) and not any(name == n and text in line for n, text in NOT_IDS):
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "workflow ids spelled outside core/workflow_ids.py:\n" + "\n".join(found)


def test_the_check_sees_the_places_ids_were_spelled_in() -> None:
    """The pattern catches both forms the check exists for, so an empty result above means something."""
    assert SPELLED.search('return f"notification-{notification_id}"')
    assert SPELLED.search("'notification-' || $1 || '-' || p.id")
    assert SPELLED.search('id=f"reconcile-{settings.task_queue}"')
    assert not SPELLED.search("`notification-<broadcast>-<user>`")
    assert len(_sources()) > 100
