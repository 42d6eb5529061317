"""The simulated channel: refused with a 422 naming the field for any address it cannot honour, and not offered
at all unless HERALD_SIM_ENABLED is set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from tests.api.conftest import Api
from tests.api.test_conventions import assert_error
from tests.conftest import Stack, free_port


@pytest.mark.parametrize("address", [
    "slow:\u00b2",  # a digit to str.isdigit(), not to int()
    "slow:" + "9" * 5000,  # past int()'s digit limit
    "slow:45000",  # longer than an attempt may take
    "flaky:\u0663",  # an Arabic-Indic digit
    "flaky:1000",
    "slow:-5",
    "ok:1",
])
async def test_a_sim_address_it_cannot_honour_is_a_422_naming_the_field(api: Api, address: str) -> None:
    template = await api.template()
    r = await api.http.post("/v1/notifications", headers=api.h, json={
        "template": template, "data": {"name": "Ada"}, "channels": ["sim"], "to": {"sim": address}})
    error = assert_error(r, 422, "validation_error")
    assert error["details"] == [{"field": "to.sim", "message": error["message"]}]
    assert len(str(error["message"])) < 300  # the 5,000 digits are not echoed back


async def test_sim_addresses_at_their_bounds_are_accepted(api: Api) -> None:
    template = await api.template()
    for address in ("slow:10000", "flaky:100", "ok"):
        await api.send(template, channels=["sim"], to={"sim": address})


@pytest.fixture
async def api_without_sim(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    settings = stack.settings.model_copy(update={"sim_enabled": False, "api_port": port})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error"))
    serve = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=stack.auth(), timeout=30) as http:
        yield http
    server.should_exit = True
    await serve


async def test_with_sim_off_a_sim_send_is_a_422(api_without_sim: httpx.AsyncClient, api: Api) -> None:
    template = await api.template()
    r = await api_without_sim.post("/v1/notifications", json={
        "template": template, "data": {"name": "Ada"}, "channels": ["sim"], "to": {"sim": "ok"}})
    error = assert_error(r, 422, "channel_unavailable")
    assert error["details"][0]["field"] == "channels"  # type: ignore[index]
    assert "sim" in str(error["message"])
