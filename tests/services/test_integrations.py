"""The integrations service without HTTP: secrets sealed under HERALD_INTEGRATION_KEYS, rotated by `reseal`.

On a database of its own: an integration here would change where the shared stack's emails go."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from core.codec import new_key_spec
from core.sealing import SealError, SecretBox, secret_box
from core.settings import Settings
from services import integrations
from store import integrations as stored
from tests.conftest import database_of_its_own

KEY = "SG.rotate-me-please.0123456789"


@pytest.fixture(scope="module")
async def own_pool(pg_server: Any) -> AsyncIterator[asyncpg.Pool]:
    async with database_of_its_own(pg_server, "herald_sealing") as (_, pool):
        yield pool


def settings(keys: str, tmp_path: Path) -> Settings:
    return Settings(HERALD_INTEGRATION_KEYS=keys, HERALD_DATA_DIR=tmp_path)


def test_a_sealed_value_opens_only_under_its_key_and_for_its_owner() -> None:
    box = secret_box(Settings(HERALD_INTEGRATION_KEYS=new_key_spec("k1")))
    sealed = box.seal({"api_key": KEY}, "sg-1")
    assert KEY.encode() not in sealed
    assert box.open(sealed, "k1", "sg-1") == {"api_key": KEY}
    with pytest.raises(SealError):
        box.open(sealed, "k1", "sg-2")  # copied onto another integration's row
    with pytest.raises(SealError):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "k1", "sg-1")
    with pytest.raises(SealError):
        SecretBox({"k9": b"\0" * 32}).open(sealed, "k1", "sg-1")


def test_without_keys_one_is_generated_once_per_installation(tmp_path: Path) -> None:
    first, second = secret_box(settings("", tmp_path)), secret_box(settings("", tmp_path))
    assert second.open(first.seal({"a": "b"}, "x"), first.seal_id, "x") == {"a": "b"}


async def test_a_rotated_key_reseals_every_integration(own_pool: asyncpg.Pool, tmp_path: Path) -> None:
    old, new = new_key_spec("k1"), new_key_spec("k2")
    await integrations.create(own_pool, settings(old, tmp_path), integration_id="sg-rot", channel="email",
                              provider="sendgrid", config={"api_key": KEY, "from": "a@herald.example"},
                              priority=1, rate_per_s=None, active=False)
    unreadable = await integrations.get(own_pool, settings(new, tmp_path), "sg-rot")
    assert unreadable.config["api_key"] == "****"  # a process without the key masks, and never fails the list

    rotated = settings(f"{new},{old}", tmp_path)
    assert await integrations.reseal(own_pool, rotated) == 1
    assert await integrations.reseal(own_pool, rotated) == 0
    row = await stored.get(own_pool, "sg-rot")
    assert row is not None and row.key_id == "k2"
    after = await integrations.get(own_pool, settings(new, tmp_path), "sg-rot")  # the old key is gone now
    assert after.config["api_key"] == "****" + KEY[-4:]
    ready, _ = integrations.ready_of(await stored.list_all(own_pool), secret_box(settings(new, tmp_path)))
    assert ready == []  # inactive: not in any chain
