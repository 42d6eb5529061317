"""A NotificationWorkflow starts with the same options whoever starts it: the API for one notification, or a
broadcast's page for each of its recipients."""

from __future__ import annotations

from typing import Any

from temporalio.api.history.v1 import HistoryEvent

from core.workflow_ids import notification_workflow_id
from core.workflow_options import WORKFLOW_TASK_TIMEOUT
from tests.api.conftest import Api, eventually, uid


async def _started(api: Api, workflow_id: str) -> HistoryEvent:
    async def first() -> HistoryEvent | None:
        try:
            async for event in api.stack.temporal.get_workflow_handle(workflow_id).fetch_history_events():
                return event
        except Exception:  # not started yet
            return None
        return None
    event: HistoryEvent = await eventually(first, timeout_s=60, what=f"{workflow_id} to start")
    return event


def _options(event: HistoryEvent) -> dict[str, Any]:
    started = event.workflow_execution_started_event_attributes
    return {
        "task_queue": started.task_queue.name,
        "task_timeout": started.workflow_task_timeout.ToTimedelta(),
        "run_timeout": started.workflow_run_timeout.ToTimedelta(),
        "execution_timeout": started.workflow_execution_timeout.ToTimedelta(),
        "priority": (started.priority.priority_key, started.priority.fairness_key),
        "retry_policy": started.retry_policy.SerializeToString(deterministic=True),
        "search_attributes": {name: payload.SerializeToString(deterministic=True)
                              for name, payload in started.search_attributes.indexed_fields.items()},
    }


async def test_a_notification_starts_with_the_same_options_from_the_api_and_from_a_broadcast(api: Api) -> None:
    template = await api.template()
    user = await api.user()
    common: dict[str, Any] = {"channels": ["in_app"], "priority": "marketing", "category": uid("news")}
    sent = await api.send(template, user_id=user, **common)
    r = await api.http.post("/v1/broadcasts", headers=api.h, json={
        "template": template, "data": {"name": "Ada"}, "audience": {"user_ids": [user]}, **common})
    assert r.status_code == 202, r.text
    recipient = f"{r.json()['id']}-{user}"

    from_api = _options(await _started(api, sent["workflow_id"]))
    from_broadcast = _options(await _started(api, notification_workflow_id(recipient)))
    assert from_api == from_broadcast
    assert from_api["task_timeout"] == WORKFLOW_TASK_TIMEOUT and from_api["priority"] == (5, common["category"])
    assert set(from_api["search_attributes"]) >= {"NotificationStatus", "NotificationChannel",
                                                  "NotificationPriority", "RecipientId"}
