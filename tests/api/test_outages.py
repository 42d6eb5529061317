"""When Temporal does not answer: the API still starts, /ready names the failing dependency, and a send
answers 503 with the notification kept, so a repeat with the same key starts it once Temporal is back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from core.settings import Settings
from tests.api.conftest import Api, uid
from tests.api.test_conventions import assert_error
from tests.conftest import Stack, free_port


@pytest.fixture
async def api_without_temporal(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    settings = stack.settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}", "api_port": port})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error"))
    serve = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=stack.auth(), timeout=30) as http:
        yield http
    server.should_exit = True
    await serve


async def test_ready_names_temporal_when_it_is_down(api_without_temporal: httpx.AsyncClient) -> None:
    r = await api_without_temporal.get("/ready")
    assert r.status_code == 503
    assert r.json()["checks"] == {"postgres": "ok", "temporal": r.json()["checks"]["temporal"]}
    assert r.json()["checks"]["temporal"].startswith("failing")
    assert "temporal" in r.json()["error"]["message"]


async def test_a_send_while_temporal_is_down_is_503_and_kept_for_the_repeat(
        api_without_temporal: httpx.AsyncClient, api: Api) -> None:
    template = await api.template()
    key = uid("outage")
    body = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "Ada"}}
    r = await api_without_temporal.post("/v1/notifications", json=body, headers={"Idempotency-Key": key})
    error = assert_error(r, 503, "temporal_unavailable")
    nid = error["details"]["notification_id"]  # type: ignore[index]
    # The same request to a healthy API starts the stored notification, once.
    again = await api.send(template, to={"sim": "ok"}, channels=["sim"], headers={"Idempotency-Key": key}, expect=200)
    assert again["id"] == nid
    await api.until_status(nid, "delivered")


def test_settings_refuse_a_placeholder_admin_key() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(HERALD_ADMIN_KEY="changeme")
    assert Settings(HERALD_ADMIN_KEY=f"hk_{uuid.uuid4().hex}").admin_key


async def test_a_broadcast_while_temporal_is_down_is_503(api_without_temporal: httpx.AsyncClient, api: Api) -> None:
    template = await api.template()
    r = await api_without_temporal.post("/v1/broadcasts", json={
        "template": template, "data": {"name": "x"}, "channels": ["in_app"], "audience": {"user_ids": ["nobody"]}})
    assert_error(r, 503, "temporal_unavailable")
