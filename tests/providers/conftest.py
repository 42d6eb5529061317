"""What the vendor adapter tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The shared HTTP client an adapter is built with, as a worker's registry hands it one."""
    async with httpx.AsyncClient() as http:
        yield http
