"""API tests: real HTTP against the API served by uvicorn, with a real worker, Temporal and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import Stack


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def eventually(check: Callable[[], Awaitable[Any]], timeout_s: float = 20, what: str = "condition") -> Any:
    """Polls `check` until it returns something truthy: delivery is asynchronous by design."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


class Api:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.http = stack.http
        self.h = stack.auth()

    async def template(self, body: str = "Hello {{ name }}", subject: str | None = "Hi {{ name }}") -> str:
        name = uid("tpl")
        r = await self.http.post("/v1/templates", json={"name": name, "subject": subject, "body": body},
                                 headers=self.h)
        assert r.status_code == 201, r.text
        return name

    async def user(self, **fields: Any) -> str:
        user_id = uid("usr")
        r = await self.http.post("/v1/users", json={"id": user_id, "name": "Ada", **fields}, headers=self.h)
        assert r.status_code == 201, r.text
        return user_id

    async def send(self, template: str, *, expect: int = 202, headers: dict[str, str] | None = None,
                   **body: Any) -> dict[str, Any]:
        payload = {"template": template, "data": {"name": "Ada"}, **body}
        r = await self.http.post("/v1/notifications", json=payload, headers={**self.h, **(headers or {})})
        assert r.status_code == expect, r.text
        result: dict[str, Any] = r.json()
        return result

    async def get(self, notification_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/v1/notifications/{notification_id}", headers=self.h)
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    async def until_status(self, notification_id: str, status: str, timeout_s: float = 20) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            n = await self.get(notification_id)
            return n if n["status"] == status else None
        result: dict[str, Any] = await eventually(check, timeout_s, f"{notification_id} to be {status}")
        return result


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack)
