"""In-flight changes over HTTP and the temporal CLI: reschedule, send-now and edit, each 409 once too late."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from store import inbox
from tests.api.conftest import Api
from tests.api.test_temporal_cli import temporal


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def scheduled(api: Api, **body: Any) -> dict[str, Any]:
    user_id = await api.user()
    return await api.send(await api.template(), user_id=user_id, channels=["in_app"], send_at=later(days=30),
                          **body)


async def inbox_bodies(api: Api, user_id: str) -> list[str]:
    items = await inbox.list_items(api.stack.pool, user_id, unread_only=False, after=None, limit=10)
    return [i.body for i in items]


async def test_reschedule_moves_the_delivery(api: Api) -> None:
    n = await scheduled(api)
    new_time = datetime.now(UTC) + timedelta(seconds=2)
    r = await api.http.post(f"/v1/notifications/{n['id']}/reschedule", json={"send_at": new_time.isoformat()},
                            headers=api.h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "scheduled"
    assert datetime.fromisoformat(r.json()["send_at"]) == new_time
    done = await api.until_status(n["id"], "delivered")
    assert datetime.fromisoformat(done["delivered_at"]) >= new_time
    assert [e["event"] for e in done["timeline"]][-3:] == ["rescheduled", "processing", "delivered"]

    too_late = await api.http.post(f"/v1/notifications/{n['id']}/reschedule", json={"send_at": later(days=1)},
                                   headers=api.h)
    assert too_late.status_code == 409 and too_late.json()["error"]["code"] == "too_late"


async def test_send_now_delivers_at_once_and_only_once(api: Api) -> None:
    n = await scheduled(api)
    r = await api.http.post(f"/v1/notifications/{n['id']}/send-now", headers=api.h)
    assert r.status_code == 200, r.text
    done = await api.until_status(n["id"], "delivered")
    assert await inbox_bodies(api, done["user_id"]) == ["Hello Ada"]
    again = await api.http.post(f"/v1/notifications/{n['id']}/send-now", headers=api.h)
    assert again.status_code == 409, again.text
    assert "delivered" in again.json()["error"]["message"]


async def test_edit_replaces_the_data_before_rendering(api: Api) -> None:
    n = await scheduled(api)
    missing = await api.http.patch(f"/v1/notifications/{n['id']}", json={"data": {"nom": "Grace"}}, headers=api.h)
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "missing_variable", missing.text
    r = await api.http.patch(f"/v1/notifications/{n['id']}", json={"data": {"name": "Grace"}}, headers=api.h)
    assert r.status_code == 200, r.text
    await api.http.post(f"/v1/notifications/{n['id']}/send-now", headers=api.h)
    done = await api.until_status(n["id"], "delivered")
    assert await inbox_bodies(api, done["user_id"]) == ["Hello Grace"]
    refused = await api.http.patch(f"/v1/notifications/{n['id']}", json={"data": {"name": "Bob"}}, headers=api.h)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "too_late"


async def test_a_rendered_notification_still_running_refuses_edits(api: Api) -> None:
    # Parked in the dead-letter queue after rendering: the workflow runs, and it is the one that says no.
    n = await api.send(await api.template(), to={"sim": "reject"}, channels=["sim"])
    await api.until_status(n["id"], "dead_lettered")
    r = await api.http.patch(f"/v1/notifications/{n['id']}", json={"data": {"name": "Grace"}}, headers=api.h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "too_late", r.text
    assert "already rendered" in r.json()["error"]["message"]
    r = await api.http.post(f"/v1/notifications/{n['id']}/send-now", headers=api.h)
    assert r.status_code == 409 and "no longer waiting" in r.json()["error"]["message"], r.text


async def test_unknown_notifications_are_404(api: Api) -> None:
    cases: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/v1/notifications/nope/reschedule", {"send_at": later(days=1)}),
        ("POST", "/v1/notifications/nope/send-now", None),
        ("PATCH", "/v1/notifications/nope", {"data": {}})]
    for method, path, body in cases:
        r = await api.http.request(method, path, json=body, headers=api.h)
        assert r.status_code == 404, (path, r.text)


async def test_cli_updates_reschedule_and_send_now(api: Api) -> None:
    n = await scheduled(api)
    wf = n["workflow_id"]
    out = await temporal(api, "workflow", "update", "execute", "--name", "reschedule", "-w", wf,
                         "--input", json.dumps({"send_at": later(days=60)}), "-o", "json")
    assert '"scheduled"' in out, out  # the answer is the notification's state
    assert (await api.get(n["id"]))["send_at"].startswith(later(days=60)[:10])
    await temporal(api, "workflow", "update", "execute", "--name", "send_now", "-w", wf)
    await api.until_status(n["id"], "delivered")
