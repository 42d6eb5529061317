"""`herald keys` and `herald migrate`: straight against PostgreSQL, so they work before the API runs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import asyncpg

from core.errors import Problem
from core.settings import get_settings
from services import keys
from store.db import database_url, require_database
from store.migrate import migrate_url


def _database_url() -> str:
    settings = get_settings()
    require_database(settings)
    return database_url(settings)


async def _connect() -> asyncpg.Connection[Any]:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(_database_url())
    return conn


async def create(args: argparse.Namespace) -> int:
    conn = await _connect()
    try:
        issued = await keys.issue(conn, args.name, sorted(set(args.scope)), args.rate, args.burst)
    finally:
        await conn.close()
    print(f"created {issued.record.id} ({', '.join(issued.record.scopes)}); the key is shown once, store it now:",
          file=sys.stderr)
    print(issued.key)
    return 0


async def list_all(_: argparse.Namespace) -> int:
    conn = await _connect()
    try:
        rows = await keys.list_keys(conn, None, 10_000)
    finally:
        await conn.close()
    for row in rows:
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "live"
        rate = f"{row.rate_per_s}/s burst {row.burst}" if row.rate_per_s else "default rate"
        print(f"{row.id}\t{row.name}\t{','.join(row.scopes)}\t{rate}\t{state}")
    return 0


async def revoke(args: argparse.Namespace) -> int:
    conn = await _connect()
    try:
        await keys.revoke(conn, args.id)
    except Problem:
        print(f"no key '{args.id}'", file=sys.stderr)
        return 1
    finally:
        await conn.close()
    print(f"revoked {args.id}", file=sys.stderr)
    return 0


async def migrate(_: argparse.Namespace) -> int:
    applied = await migrate_url(_database_url())
    print(json.dumps({"applied": applied}))
    return 0
