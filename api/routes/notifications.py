"""Notifications: accept (idempotently) and start a workflow; read the read model; cancel and retry by signal;
reschedule, send now and edit by update."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.accepting import accept, accept_many
from api.deps import (
    AcceptReadsDep,
    AdminDep,
    AnnouncerDep,
    PageDep,
    PoolDep,
    Principal,
    SendDep,
    SettingsDep,
    StatusDep,
    TemporalDep,
)
from api.errors import ApiError
from api.notification_views import detail, public
from api.schemas import (
    BulkCreate,
    BulkItemResult,
    BulkResult,
    NotificationCreate,
    NotificationDetail,
    NotificationEdit,
    NotificationPublic,
    Page,
    Reschedule,
)
from core.models import Channel, Priority, Status
from services import changes, dead_letters
from services import notifications as notification_reads
from services.accept import Accepted, Caller

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])
log = logging.getLogger("herald.api")


@router.post("", status_code=202, response_model=NotificationPublic,
             responses={200: {"model": NotificationPublic, "description": "repeat of an accepted request"},
                        409: {"description": "the idempotency key was used with a different body"}})
async def create_notification(
    body: NotificationCreate, pool: PoolDep, settings: SettingsDep, principal: SendDep, starts: AnnouncerDep,
    kept: AcceptReadsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> JSONResponse:
    status, notification = await accept(pool, settings, body, idempotency_key, _caller(principal), starts, kept)
    return JSONResponse(public(notification), status_code=status)


@router.post("/bulk", response_model=BulkResult)
async def create_notifications_in_bulk(body: BulkCreate, pool: PoolDep, settings: SettingsDep,
                                       principal: SendDep, starts: AnnouncerDep,
                                       kept: AcceptReadsDep) -> BulkResult:
    """Up to 1,000 notifications, each accepted or refused on its own: one bad item refuses only itself. The items
    are checked and stored together (`services.accept.accept_many`); within a batch the first occurrence of a key
    wins."""
    results: dict[int, BulkItemResult] = {}
    parsed: list[tuple[int, NotificationCreate]] = []
    for index, item in enumerate(body.notifications):
        try:
            parsed.append((index, NotificationCreate.model_validate(item)))
        except ValidationError as exc:
            details = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                       for e in exc.errors()]
            results[index] = BulkItemResult(index=index, status="invalid", error={
                "code": "validation_error", "message": f"{details[0]['field']}: {details[0]['message']}",
                "details": details})
    outcomes = await accept_many(pool, settings, [(request, None) for _, request in parsed], _caller(principal),
                                 starts, kept)
    for (index, _), outcome in zip(parsed, outcomes, strict=True):
        results[index] = _item_result(index, outcome)
    ordered = [results[i] for i in range(len(body.notifications))]
    counts: dict[str, int] = {}
    for r in ordered:
        counts[r.status] = counts.get(r.status, 0) + 1
    return BulkResult(results=ordered, counts=counts)


def _item_result(index: int, outcome: Accepted | Exception) -> BulkItemResult:
    if isinstance(outcome, Accepted):
        return BulkItemResult(index=index, status="accepted" if outcome.status == 202 else "duplicate",
                              notification=public(outcome.notification))
    if isinstance(outcome, ApiError):
        kind = "conflict" if outcome.status == 409 else "unavailable" if outcome.status == 503 else "invalid"
        return BulkItemResult(index=index, status=kind, error={
            "code": outcome.code, "message": outcome.message, "details": outcome.details})
    return _unexpected_item(index, outcome)


_DATABASE_OUTAGES = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


def _unexpected_item(index: int, exc: Exception) -> BulkItemResult:
    """An item that failed other than by being refused: the batch still answers, item by item, so that the items
    already started are not hidden behind one error for the whole request."""
    if isinstance(exc, asyncpg.DataError):  # a value the database refuses: this item's input
        return BulkItemResult(index=index, status="invalid", error={
            "code": "validation_error", "message": f"the database refused a value of this item: {exc}",
            "details": None})
    if isinstance(exc, _DATABASE_OUTAGES):
        return BulkItemResult(index=index, status="unavailable", error={
            "code": "database_unavailable", "message": "the database is not answering; try this item again",
            "details": None})
    log.exception("bulk item %d failed", index, exc_info=exc)
    return BulkItemResult(index=index, status="error", error={
        "code": "internal_error", "message": "an unexpected error occurred for this item; it has been logged",
        "details": None})


@router.get("", response_model=Page[NotificationPublic])
async def list_notifications(pool: PoolDep, page: PageDep, principal: StatusDep, status: Status | None = None,
                             user_id: str | None = None, channel: Channel | None = None,
                             priority: Priority | None = None) -> dict[str, Any]:
    after = page.decode(datetime, str)
    rows = await notification_reads.page(
        pool, status=status, user_id=user_id, channel=channel, priority=priority,
        after=(after[0], after[1]) if after else None, limit=page.fetch,
        created_by=None if principal.sees_all else principal.key,
    )
    rows, next_cursor = page.cut(rows, lambda r: [r.created_at.isoformat(), r.id])
    return {"items": [public(r) for r in rows], "next_cursor": next_cursor}


@router.get("/{notification_id}", response_model=NotificationDetail)
async def get_notification(notification_id: str, pool: PoolDep, principal: StatusDep) -> dict[str, Any]:
    row = await notification_reads.get(pool, notification_id, owner=None if principal.sees_all else principal.key)
    return detail(row, await notification_reads.attempts(pool, notification_id))


@router.post("/{notification_id}/cancel", status_code=202, response_model=NotificationPublic)
async def cancel_notification(notification_id: str, pool: PoolDep, temporal: TemporalDep,
                              _: AdminDep) -> dict[str, Any]:
    return public(await changes.cancel(pool, temporal, notification_id))


@router.post("/{notification_id}/retry", status_code=202, response_model=NotificationPublic)
async def retry_notification(notification_id: str, pool: PoolDep, temporal: TemporalDep,
                             _: AdminDep) -> dict[str, Any]:
    return public(await dead_letters.retry_one(pool, temporal, notification_id))


# In-flight changes: Temporal Updates on the notification's workflow. Each answers 200 with the notification as
# it is now, or 409 once it is too late (the workflow's validator decides, so the API cannot disagree with it).

@router.post("/{notification_id}/reschedule", response_model=NotificationPublic)
async def reschedule_notification(notification_id: str, body: Reschedule, pool: PoolDep, temporal: TemporalDep,
                                  principal: SendDep) -> dict[str, Any]:
    """Moves a scheduled notification's send time (a past time sends it now); 409 once it is no longer waiting."""
    return public(await changes.reschedule(pool, temporal, notification_id, body.send_at, owner=_owner(principal)))


@router.post("/{notification_id}/send-now", response_model=NotificationPublic)
async def send_notification_now(notification_id: str, pool: PoolDep, temporal: TemporalDep,
                                principal: SendDep) -> dict[str, Any]:
    """Sends a scheduled notification at once instead of at its send time; 409 once it is no longer waiting."""
    return public(await changes.send_now(pool, temporal, notification_id, owner=_owner(principal)))


@router.patch("/{notification_id}", response_model=NotificationPublic)
async def edit_notification(notification_id: str, body: NotificationEdit, pool: PoolDep, temporal: TemporalDep,
                            principal: SendDep) -> dict[str, Any]:
    """Replaces the data the template will be rendered with; 409 once the message has been rendered."""
    return public(await changes.edit_data(pool, temporal, notification_id, body.data, owner=_owner(principal)))


def _owner(principal: Principal) -> str | None:
    """Whose notifications the caller may change: an admin any, a `send` key only those it created."""
    return None if principal.is_admin else principal.key


def _caller(principal: Principal) -> Caller:
    return Caller(key=principal.key, is_admin=principal.is_admin)
