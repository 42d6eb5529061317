"""Notification records as the REST contract and the dashboard show them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from api.schemas import NotificationDetail, NotificationPublic
from store.notifications import AttemptRecord, NotificationRecord


def public(row: NotificationRecord) -> dict[str, Any]:
    return NotificationPublic.model_validate(asdict(row)).model_dump(mode="json")


def detail(row: NotificationRecord, attempts: Sequence[AttemptRecord] = ()) -> dict[str, Any]:
    """With its timeline and attempt log, as `GET /v1/notifications/{id}` shows it."""
    shown = {**asdict(row), "attempt_log": [asdict(a) for a in attempts]}
    return NotificationDetail.model_validate(shown).model_dump(mode="json")
