"""Notification records as the REST contract and the dashboard show them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from api.schemas import NotificationDetail, NotificationPublic
from store.notifications import NotificationRecord


def public(row: NotificationRecord) -> dict[str, Any]:
    return NotificationPublic.model_validate(asdict(row)).model_dump(mode="json")


def detail(row: NotificationRecord) -> dict[str, Any]:
    """With its timeline, as `GET /v1/notifications/{id}` shows it."""
    return NotificationDetail.model_validate(asdict(row)).model_dump(mode="json")
